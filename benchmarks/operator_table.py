"""Print docs/operators.md: every operator TFLM's interpreter registers and what tinyml does with it
(`python benchmarks/operator_table.py > docs/operators.md`)."""
from tinyml.frontends.tflite import SUPPORTED_OPS
from tinyml.optable import markdown

if __name__ == "__main__":
    print(markdown(frozenset(SUPPORTED_OPS)), end="")
