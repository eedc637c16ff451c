#!/usr/bin/python3
"""The one list of Debian packages (deploy/packages) against what the build
really uses: every system header the sources include, every pkg-config
module CMake asks for, every shared library plinthd links. Each must belong
to a listed package or to one a listed package depends on (dpkg's records
of this machine). Fails naming the file and the package to add.

    packaging_test.py SOURCE_DIR BIN_DIR
"""
import os
import re
import subprocess
import sys
import unittest

SRC = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else ".")
BIN = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin")
INCLUDE_DIRS = ["/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/include/c++/12",
                "/usr/include/x86_64-linux-gnu/c++/12"]


def read_list(name):
    out = []
    with open(os.path.join(SRC, "deploy", "packages", name)) as f:
        for line in f:
            out += line.split("#", 1)[0].split()
    return out


def installed_depends():
    """package -> the packages it depends on (any alternative), for installed ones."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Depends},${Pre-Depends}\n"],
                         capture_output=True, text=True, check=True).stdout
    deps = {}
    for line in out.splitlines():
        pkg, _, rest = line.partition("\t")
        names = set()
        for alt in rest.replace("|", ",").split(","):
            name = alt.strip().split(" ")[0].split(":")[0]
            if name:
                names.add(name)
        deps[pkg] = names
    # Virtual packages: whatever provides them.
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Provides}\n"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        pkg, _, provides = line.partition("\t")
        for p in provides.split(","):
            name = p.strip().split(" ")[0]
            if name:
                deps.setdefault(name, set()).add(pkg)
    return deps


def closure(roots, deps):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += deps.get(p, ())
    return seen


def owners(paths):
    """path -> owning package, by dpkg -S (following symlinks to the real file)."""
    result = {}
    for i in range(0, len(paths), 200):
        batch = paths[i:i + 200]
        r = subprocess.run(["dpkg", "-S"] + batch, capture_output=True, text=True)
        for line in r.stdout.splitlines():
            pkgs, _, path = line.partition(": ")
            result[path] = pkgs.split(",")[0].split(":")[0].strip()
    return result


def owner_of(path, found):
    for candidate in (path, os.path.realpath(path)):
        if candidate in found:
            return found[candidate]
        # /usr/lib vs /lib (merged /usr)
        alt = candidate[4:] if candidate.startswith("/usr/") else "/usr" + candidate
        if alt in found:
            return found[alt]
    return None


class PackagingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.deps = installed_depends()
        cls.build_ok = closure(read_list("build.txt"), cls.deps)
        cls.test_ok = closure(read_list("build.txt") + read_list("test.txt"), cls.deps)
        cls.runtime_ok = closure(read_list("runtime.txt"), cls.deps)

    def check(self, used, allowed, what):
        """used: {system path: where it is used}."""
        paths = sorted(used)
        candidates = []
        for p in paths:
            candidates += [p, os.path.realpath(p)]
            candidates.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
        found = owners(sorted(set(candidates)))
        missing = []
        for p in paths:
            pkg = owner_of(p, found)
            if pkg is None:
                continue  # not from a package (made by the build)
            if pkg not in allowed:
                missing.append(f"{used[p]} uses {p}, from {pkg}: add {pkg} to deploy/packages/{what}")
        self.assertEqual(missing, [])

    def sources(self, dirs):
        for top in dirs:
            for root, _, files in os.walk(os.path.join(SRC, top)):
                for f in files:
                    if f.endswith((".cc", ".h", ".h.in")):
                        yield os.path.join(root, f)

    def headers(self, dirs):
        used = {}
        pattern = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
        for path in self.sources(dirs):
            with open(path, errors="replace") as f:
                for name in pattern.findall(f.read()):
                    for d in INCLUDE_DIRS:
                        full = os.path.join(d, name)
                        if os.path.isfile(full):
                            used.setdefault(full, os.path.relpath(path, SRC))
                            break
        return used

    def test_the_product_builds_from_build_txt(self):
        used = self.headers(["src", "include", "proto"])
        self.assertGreater(len(used), 20, "the scan found the system headers")
        self.check(used, self.build_ok, "build.txt")

    def test_the_tests_build_from_build_and_test_txt(self):
        self.check(self.headers(["tests", "bench"]), self.test_ok, "test.txt")

    def test_cmake_pkg_config_modules_are_listed(self):
        used = {}
        for root, _, files in os.walk(SRC):
            if "/build" in root or "/.git" in root:
                continue
            for f in files:
                if f != "CMakeLists.txt":
                    continue
                path = os.path.join(root, f)
                with open(path) as fh:
                    text = fh.read()
                for module in re.findall(r"pkg_check_modules\(\s*\w+\s+(?:REQUIRED\s+)?(?:IMPORTED_TARGET\s+)?([\w.+-]+)", text):
                    pc = subprocess.run(["pkg-config", "--variable=pcfiledir", module], capture_output=True, text=True)
                    self.assertEqual(pc.returncode, 0, f"{path}: pkg-config does not know {module}")
                    used[os.path.join(pc.stdout.strip(), module + ".pc")] = os.path.relpath(path, SRC)
        self.assertGreater(len(used), 2)
        allowed = self.test_ok if any("tests" in v or "bench" in v for v in used.values()) else self.build_ok
        self.check(used, allowed, "build.txt or test.txt")

    def test_runtime_txt_has_every_library_plinthd_links(self):
        used = {}
        for binary in ("plinthd", "plinth"):
            out = subprocess.run(["ldd", os.path.join(BIN, binary)], capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                m = re.search(r"=>\s+(/\S+)", line)
                if m:
                    used[m.group(1)] = binary
        self.assertGreater(len(used), 5)
        self.check(used, self.runtime_ok, "runtime.txt")

    def test_the_dockerfile_reads_the_lists(self):
        with open(os.path.join(SRC, "deploy", "Dockerfile")) as fh:
            text = fh.read()
        self.assertIn("/packages/build.txt", text)
        self.assertIn("/packages/runtime.txt", text)
        self.assertNotIn("libgrpc++-dev", text, "the Dockerfile keeps its own package list again")


if __name__ == "__main__":
    unittest.main(verbosity=2)
