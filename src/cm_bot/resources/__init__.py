"""The program's community-resource directory: Open Referral HSDS data, and what a need matches.

Floor 4-5 (beside ``scheduling/``): it may import ``storage/``; the engine never imports
it (it will ask for matches through a port). ``hsds`` reads and checks a package,
``store`` writes it (upsert by id; a service a re-import leaves out becomes inactive),
``match`` finds the active services for a need, ``hours`` words opening hours.
"""
