"""The running service: the daemon, its tasks, the executors, the worker, leases."""
