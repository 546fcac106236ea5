#!/usr/bin/env python3
"""Checks that the documentation names only what exists.

    test/docs_check.py SOURCE_DIR NAME=BINARY...           check every README.md
    test/docs_check.py --self-test SOURCE_DIR NAME=BINARY...  plant a missing path and an
                                                           unknown option; both must be found

NAME is factorial-scheduler, factorial-executor or mesos-sim; BINARY is run with --help.
What counts as a path or an option is described in test/README.md ("Docs check"). Exit 0 when
everything named exists, 1 with one line per problem otherwise.
"""

import os
import re
import subprocess
import sys

TOP_LEVEL = {"CMakeLists.txt", "LICENSE", "README.md", ".ci", "common", "deploy", "executor",
             "scheduler", "test"}
CODE_EXTENSIONS = (".c", ".cpp", ".h", ".hpp", ".sh", ".py", ".md", ".cmake")
# Shell words that only introduce the command after them.
PREFIX_WORDS = {"sudo", "exec", "time", "env", "nice"}
OPTION = re.compile(r"^--[A-Za-z0-9][A-Za-z0-9_-]*")


def default_program(doc):
    """The program whose options a lone `--option` in `doc` (a path relative to the root) means."""
    return "mesos-sim" if doc.startswith("test/sim/") else "factorial-scheduler"


def find_docs(root):
    docs = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        # Build trees (in or beside the source: build/, build-rel/, ...) and hidden folders hold
        # no documentation of ours.
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not (rel == "." and d.startswith("build"))
                             and not os.path.exists(os.path.join(dirpath, d, "CMakeCache.txt")))
        if "README.md" in filenames:
            docs.append(os.path.normpath(os.path.join(rel, "README.md")))
    return docs


def split_markdown(text):
    """(code lines, prose text): fenced blocks line by line (backslash continuations joined),
    the rest joined with spaces so that code spans wrapped over lines stay whole."""
    code, prose, fenced, pending = [], [], False, ""
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            code.append(pending + line)
            pending = ""
        else:
            prose.append(line)
    return code, " ".join(prose)


def strip_comment(line):
    return re.sub(r"(^|\s)#.*$", "", line)


def commands(text):
    """Splits a shell-like text into commands (on |, &&, ||, ;, $( and backquotes), each a list
    of words with the leading VAR=value assignments and prefix words removed."""
    for part in re.split(r"\|\||&&|[|;`]|\$\(", text):
        words = part.split()
        while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in PREFIX_WORDS):
            words.pop(0)
        if words:
            yield words


def clean_word(word):
    word = word.strip("'\"[]()")
    return word.rstrip(",.;:")


def options_of(words, doc, programs):
    """(program, option) pairs a command names for one of our programs."""
    first = clean_word(words[0])
    name = os.path.basename(first)
    if name in programs:
        program, candidates = name, words[1:]
    elif first.startswith("--"):
        program, candidates = default_program(doc), words
    else:
        return  # another tool's command: its options are not ours to check
    for word in candidates:
        word = clean_word(word)
        if word == "--":
            break  # what follows goes elsewhere
        match = OPTION.match(word)
        if match:
            yield program, match.group(0)


def path_problem(token, doc, root, checked):
    """None if `token` is not a repository path or names one that exists; else the problem."""
    token = clean_word(token)
    token = re.sub(r":\d+$", "", token)
    if not token or re.search(r"[$<>*{}=:\\]|\.\.", token) or token.startswith(("/", "~", "-")):
        return None
    doc_dir = os.path.dirname(doc)
    first = token.split("/")[0]
    if first.startswith("build"):
        return None  # a build output
    if first in TOP_LEVEL and ("/" in token or token in TOP_LEVEL):
        checked.add((doc, token))
        if not os.path.exists(os.path.join(root, token)):
            return f"{token}: no such file or folder"
        return None
    if "/" in token:
        # Relative to the document's folder, when it starts with one of that folder's entries.
        if os.path.isdir(os.path.join(root, doc_dir, first)):
            checked.add((doc, token))
            if not os.path.exists(os.path.join(root, doc_dir, token)):
                return f"{token}: no such file or folder under {doc_dir or '.'}/"
        return None
    if token.endswith(CODE_EXTENSIONS):
        checked.add((doc, token))
        for _, _, filenames in os.walk(os.path.join(root, doc_dir)):
            if token in filenames:
                return None
        return f"{token}: no file of that name under {doc_dir or '.'}/"
    return None


def check(root, texts, helps):
    """Problems in `texts` ({doc: markdown}); `helps` maps each program to its --help output."""
    known = {program: set(re.findall(r"--[A-Za-z0-9][A-Za-z0-9_-]*", help_text))
             for program, help_text in helps.items()}
    problems, checked = [], {"paths": set(), "options": set()}
    for doc, text in texts.items():
        code, prose = split_markdown(text)
        spans = re.findall(r"`([^`]+)`", prose)
        snippets = [strip_comment(line) for line in code] + spans
        seen = set()
        for snippet in snippets:
            for words in commands(snippet):
                for program, option in options_of(words, doc, helps):
                    checked["options"].add((program, option))
                    if option not in known[program] and (program, option) not in seen:
                        seen.add((program, option))
                        problems.append(f"{doc}: {option} is not an option of {program} (not in its --help)")
            for word in snippet.split():
                problem = path_problem(word, doc, root, checked["paths"])
                if problem and problem not in seen:
                    seen.add(problem)
                    problems.append(f"{doc}: {problem}")
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0]))
            checked["paths"].add((doc, target))
            if not os.path.exists(os.path.join(root, path)):
                problems.append(f"{doc}: link to {target}: no such file or folder")
    return problems, {kind: len(items) for kind, items in checked.items()}


def main(argv):
    self_test = argv[:1] == ["--self-test"]
    if self_test:
        argv = argv[1:]
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[0]
    helps = {}
    for arg in argv[1:]:
        name, _, binary = arg.partition("=")
        result = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
        if result.returncode != 0 or "--help" not in result.stdout:
            print(f"docs_check: {binary} --help failed (status {result.returncode})", file=sys.stderr)
            return 1
        helps[name] = result.stdout
    docs = find_docs(root)
    texts = {doc: open(os.path.join(root, doc), encoding="utf-8").read() for doc in docs}
    for required in ("README.md", "scheduler/README.md", "deploy/README.md"):
        if required not in texts:
            print(f"docs_check: {required} not found under {root}", file=sys.stderr)
            return 1

    if self_test:
        # One planted problem of each kind, in each of three places a reader meets them.
        planted = dict(texts)
        planted["README.md"] += "\nSee `scheduler/no_such_file.cpp`.\n"
        planted["scheduler/README.md"] += "\nRun with `--no-such-option 3`.\n"
        planted["test/sim/README.md"] = planted.get("test/sim/README.md", "") + \
            "\n```sh\nbuild/test/mesos-sim --agents 2 --no-such-sim-option\n```\n"
        planted["deploy/README.md"] += "\n[the guide](no-such-guide.md)\n"
        found, _ = check(root, planted, helps)
        baseline = set(check(root, texts, helps)[0])
        new = [p for p in found if p not in baseline]
        expected = [
            "README.md: scheduler/no_such_file.cpp: no such file or folder",
            "scheduler/README.md: --no-such-option is not an option of factorial-scheduler (not in its --help)",
            "test/sim/README.md: --no-such-sim-option is not an option of mesos-sim (not in its --help)",
            "deploy/README.md: link to no-such-guide.md: no such file or folder",
        ]
        missed = [e for e in expected if e not in new]
        for line in new:
            print(f"found (planted): {line}")
        if missed or len(new) != len(expected):
            for line in missed:
                print(f"MISSED: {line}")
            return 1
        print(f"docs_check self-test: all {len(expected)} planted problems found")
        return 0

    problems, counts = check(root, texts, helps)
    for problem in problems:
        print(problem)
    if problems:
        print(f"docs_check: {len(problems)} problems in {len(docs)} documents")
        return 1
    print(f"docs_check: {counts['paths']} paths and {counts['options']} options named in {len(docs)} documents "
          f"all exist: {', '.join(docs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
