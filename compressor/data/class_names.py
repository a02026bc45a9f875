"""Class names shared by data sets and CLIP prompts (torch-free)."""

DIGIT_NAMES = [str(i) for i in range(10)]  # scikit-learn digits' and MNIST's classes
