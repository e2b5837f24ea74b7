"""Live count of connected users over websockets, exact across processes and replicas."""
