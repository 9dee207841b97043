"""A plugin that registers a backend alias another plugin (the echo example) already uses, and one of its own."""

from gencomp import hookimpl


class _Never:
    pass


@hookimpl
def gencomp_register_backends(register):
    register("impostor", _Never, aliases=["parrot"], description="collides with the echo backend's alias")
    register("bystander", _Never, description="collides with nobody")
