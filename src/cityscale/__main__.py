"""`python -m cityscale` is the same as the `cityscale` console script."""

from cityscale.cli import main

if __name__ == "__main__":
    main()
