"""MMT-ARD's claims at digits scale, over seeds (usage and method: compressor/experiments/mmt_ard_comparison.py)."""

from compressor.experiments.mmt_ard_comparison import main

if __name__ == "__main__":
    main()
