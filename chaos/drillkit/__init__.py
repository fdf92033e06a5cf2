"""drillkit: the pieces of `chaos/drill`.

writer     inserts uniquely numbered rows through the VIP every ~10 ms, logs every ack (runs
           on the lab's client host)
managers   starts and stops myha managers on the lab's manager hosts
lab        thin wrappers around `chaos/lab` and SQL checks of the cluster
scenarios  one function per drill: inject the fault, heal, say what "ok" means
cli        argument parsing, runs, the JSON report
"""
