"""The agent of one hypervisor host: what it builds, from a ProjectSpec and its mln.conf."""
