"""Gain over training alone against teacher strength (usage: compressor/experiments/strength.py)."""

from compressor.experiments.strength import main

if __name__ == "__main__":
    main()
