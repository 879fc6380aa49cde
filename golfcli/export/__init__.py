"""`golf export`: a challenge records folder whose single train_gpt.py reruns the whole golf chain.

    build_folder(...)   writes train_gpt.py, requirements.txt, config.toml, submission.json, README.md
    update_folder(dir)  refreshes submission.json and README.md from the logs found in the folder
    check_folder(dir)   the challenge's rules, one verdict per rule

`golfcli.export.runtime` is what the exported script runs (bundled inside it, golf not installed).
"""
