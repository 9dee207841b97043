"""A plugin whose hook implementations lack ``@hookimpl``: gencomp never calls them, and must say so."""

from gencomp import hookimpl


def gencomp_register_backends(register):  # no @hookimpl: never called
    register("unmarked", object, description="never registered")


def gencomp_register_model(register):  # no @hookimpl, and a typo of gencomp_register_models
    register("unmarked-model", backend="unmarked", resolve=lambda: "/nowhere")


@hookimpl
def gencomp_template_dirs():
    return []


def gencomp_helper_of_its_own():  # not a hook name: not reported
    return None
