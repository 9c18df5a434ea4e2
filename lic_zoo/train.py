"""``python -m lic_zoo.train``: the Lightning CLI that trains codecs (same as ``lic-zoo train``)."""
import sys

from .training.cli import main

if __name__ == "__main__":
    sys.exit(main())
