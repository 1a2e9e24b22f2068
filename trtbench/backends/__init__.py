"""Backends share one lifecycle (``base.Backend``); ``registry`` knows them all without importing them."""
