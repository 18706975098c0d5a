"""Framework adapters for the resource-server guard (thin: build the request context, call the
guard, render its answer). Framework modules are imported on use; install the matching extra."""

__all__: list[str] = []
