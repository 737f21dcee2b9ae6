"""The Dockerfile: no container engine runs here, so the image is never built in CI. What is
checked instead: its cargo command is exactly the one .ci/run runs (so the image builds what CI
built), and the runtime stage's promises (non-root, ports, volume, entrypoint)."""

import re
import unittest

from support import REPO

DOCKERFILE = (REPO / "deploy/docker/Dockerfile").read_text()
CARGO = re.compile(r"cargo build [^\n\\&]*?-p spanlens-collector")


class DockerfileTest(unittest.TestCase):
    def test_build_command_is_the_one_ci_runs(self):
        [in_dockerfile] = CARGO.findall(DOCKERFILE)
        self.assertEqual(in_dockerfile, "cargo build --release --locked -p spanlens-collector")
        ci = (REPO / ".ci/run").read_text()
        self.assertIn(in_dockerfile, CARGO.findall(ci))

    def test_multi_stage_non_root_runtime(self):
        stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", DOCKERFILE, re.M)
        self.assertEqual(len(stages), 2)
        self.assertTrue(stages[0][0].startswith("rust:"))
        self.assertIn("distroless", stages[1][0])
        runtime = DOCKERFILE.split("\nFROM ", 2)[2]
        self.assertRegex(runtime, r"\nUSER 10001:10001\n")
        self.assertIn('EXPOSE 4317 4318', runtime)
        self.assertIn('VOLUME ["/var/lib/spanlens"]', runtime)
        self.assertIn("SPANLENS_PIPELINE__SPOOL_DIR=/var/lib/spanlens/spool", runtime)
        self.assertIn('ENTRYPOINT ["/usr/local/bin/spanlens-collector"]', runtime)
        for label in ("title", "version", "revision", "source", "licenses"):
            self.assertIn(f"org.opencontainers.image.{label}=", runtime)

    def test_dockerignore_keeps_the_context_small_but_complete(self):
        ignored = (REPO / ".dockerignore").read_text().split()
        for heavy in (".git", "target", ".venv"):
            self.assertIn(heavy, ignored)
        for needed in ("crates", "schemas", "Cargo.toml", "Cargo.lock"):
            self.assertFalse(any(needed == i or needed.startswith(i + "/") for i in ignored), needed)


if __name__ == "__main__":
    unittest.main()
