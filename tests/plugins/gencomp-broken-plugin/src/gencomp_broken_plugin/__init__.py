"""A plugin whose import fails, to prove that one broken plugin does not take gencomp down."""

raise ImportError("gencomp_broken_plugin needs the module 'not_installed_anywhere'")
