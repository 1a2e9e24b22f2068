"""Reading measured runs back (any mix of native results and pytest-benchmark JSON) and comparing
them; shared by ``trtbench report`` and ``trtbench gate``. Reads measurements only."""
