"""Builds and the cluster: the job record, dispatch to daemons, placement, chains, signing."""
