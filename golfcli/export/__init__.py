"""`golf export`: a challenge records folder whose single train_gpt.py reruns the whole golf chain.

    folder.build_folder(out, plan)   train_gpt.py, requirements.txt, config.toml, submission.json, README.md
    folder.update_folder(dir)        submission.json and the README's results block from the folder's logs
    check.check_folder(dir)          the challenge's rules, one verdict per rule

`runtime.py` is what the exported script runs (bundled inside it; golf is not installed there).
"""
