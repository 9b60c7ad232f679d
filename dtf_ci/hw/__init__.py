"""Hardware probes, one small module per source of facts.

Every probe reads through a :class:`~dtf_ci.hw.source.Source` (a root folder for procfs and
sysfs, a PATH for vendor tools, an optional module for NVML), so tests point it at a recorded
tree and a stand-in tool instead of the machine they run on. ``dtf_ci.hardware`` puts the
probes together into facts, labels and the ``dtf hw --json`` document.
"""
