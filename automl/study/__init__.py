"""A study: its loop (:mod:`automl.study.tune`) and its folder under ``mlruns/`` (:mod:`automl.study.folder`).

Nothing is imported here, so that lower layers (the plan) can use the folder without loading the loop.
"""
