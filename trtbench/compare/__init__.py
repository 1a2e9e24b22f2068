"""Comparing a candidate with a baseline, trial by trial, for the regression gate.

Each variant is measured in several trials (fresh worker processes); a trial gives one value per metric.
The trial, not the sample, is the unit of comparison: samples inside one process share that process's
state and are not independent evidence about the next one. ``stats`` holds the pure statistics
(estimates, intervals, tests, verdicts); reading results and printing the gate live elsewhere.
"""
