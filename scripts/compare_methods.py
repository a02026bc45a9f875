"""Compare robust-distillation methods fairly (usage and method: compressor/experiments/comparison.py)."""

from compressor.experiments.comparison import main

if __name__ == "__main__":
    main()
