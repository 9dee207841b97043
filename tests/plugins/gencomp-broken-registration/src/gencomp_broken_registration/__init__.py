"""A plugin that imports fine but whose backend registration raises: it must be reported as failed."""

from gencomp import hookimpl


@hookimpl
def gencomp_register_backends(register):
    raise RuntimeError("license server unreachable")
