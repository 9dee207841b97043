"""A plugin for a future gencomp; importing it under this core is a test failure."""

raise AssertionError("gencomp must skip this plugin before importing it")
