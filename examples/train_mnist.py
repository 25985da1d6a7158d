"""Train an MLP on MNIST with minigrad's Keras-style API and report test accuracy and time.

    python examples/train_mnist.py                                   # the course net 784-25-15-10, 5 epochs
    python examples/train_mnist.py --output softmax                  # softmax output + from_logits=False
    python examples/train_mnist.py --hidden 256,128 --epochs 10 --decay 0.8   # the >98% recipe (98.1-98.2%, seeds 0-2)
"""

from __future__ import annotations

import argparse
import time

import minigrad as mg
from minigrad import datasets, nn, optim
from viz.cli import use_one_blas_thread


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", default="25,15", help="hidden layer sizes, comma separated (default 25,15)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--decay", type=float, default=1.0,
                        help="multiply the learning rate by this after each epoch (1 = constant)")
    parser.add_argument("--output", choices=("linear", "softmax"), default="linear",
                        help="linear outputs + from_logits=True, or softmax + from_logits=False")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N samples only")
    parser.add_argument("--validation-split", type=float, default=0.0,
                        help="validate on this last fraction of the training set (to choose a recipe) "
                             "instead of on the test set")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    # these products (128×784 @ 784×256 at most) are too small to share between threads, and on a busy
    # 2-core machine OpenBLAS' waiting threads made an epoch 5-10× slower (measured 1.2-1.6 s vs 8.9-14.3 s
    # for 30,000 samples of the 256-128 net). Your OPENBLAS_NUM_THREADS / OMP_NUM_THREADS wins.
    use_one_blas_thread()

    mg.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255.0
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255.0
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]

    hidden = [int(h) for h in args.hidden.split(",") if h]
    model = nn.Sequential([nn.Dense(h, activation="relu") for h in hidden]
                          + [nn.Dense(10, activation=None if args.output == "linear" else "softmax")])
    model.compile(optimizer=optim.Adam(learning_rate=args.lr),
                  loss=nn.SparseCategoricalCrossentropy(from_logits=args.output == "linear"),
                  metrics=["accuracy"])
    callbacks = []
    if args.decay != 1.0:
        callbacks.append(nn.LearningRateScheduler(lambda epoch, lr: args.lr * args.decay ** epoch))

    started = time.perf_counter()
    validation = {"validation_split": args.validation_split} if args.validation_split \
        else {"validation_data": (x_test, y_test)}
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0 if args.quiet else 1,
              callbacks=callbacks, **validation)
    seconds = time.perf_counter() - started
    result = model.evaluate(x_test, y_test, batch_size=1024)
    print(f"hidden {hidden}, {args.epochs} epochs, {args.output} output: fit took {seconds:.1f}s "
          "(including the per-epoch validation)")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.4f}")
    return result["accuracy"]


if __name__ == "__main__":
    main()
