"""The example ML pipeline (prepare -> train -> evaluate) that expbook's demo and tests run.

Stages run as `PYTHONPATH=src python -m pipeline.<stage>` from dvc.yaml; nothing here imports expbook.
"""
