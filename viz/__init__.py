"""viz: pictures of what minigrad did — Graphviz drawings of graphs and models (and, in its own
modules, the terminal trainer). Importing viz loads no rich and no trainer code.

    import viz
    viz.render(loss, "out/graph.svg")          # .svg, .png or .dot, by suffix
    viz.to_dot(loss, values=True, grads=True)  # the DOT text, no Graphviz needed
    viz.render_backward(loss, "out/frames")    # one picture per backward step

The colour legend is in `viz.dot`'s docstring.
"""

from viz.dot import to_dot
from viz.render import RenderError, render, render_backward, to_svg

__all__ = ["RenderError", "render", "render_backward", "to_dot", "to_svg"]
