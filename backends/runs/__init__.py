"""Pattern files, one run, sweep, meter, run record, results store."""
