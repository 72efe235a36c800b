"""Settings shared by the whole suite."""

from hypothesis import settings

# Speed is measured in bench/, not in tests: on a loaded two-core CI machine a
# deadline only measures the neighbours (the first example also builds the grammar).
settings.register_profile("mln", deadline=None, max_examples=200)
settings.load_profile("mln")
