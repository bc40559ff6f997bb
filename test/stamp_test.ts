/**
 * Release stamping: the files a release publishes name the real repository and registry, and no
 * placeholder is left in them.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { stamp, STAMPED_FILES, StampError, stampFiles } from "../scripts/stamp.ts";

const ROOT = new URL("..", import.meta.url).pathname;

// an image reference's repository part: lowercase path components (distribution/reference)
const IMAGE_PATH =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;

/** A copy of the files a release publishes, removed by `await using`. */
async function releaseTree(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "deploy-stamp-" });
  for (const file of STAMPED_FILES) {
    await Deno.mkdir(`${path}/${file}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.copyFile(`${ROOT}${file}`, `${path}/${file}`);
  }
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

async function templateRegistry(root: string): Promise<string> {
  const template = parse(await Deno.readTextFile(`${root}/templates/gitlab/deploy.gitlab-ci.yml`));
  return (template as { variables: Record<string, string> }).variables.DEPLOY_IMAGE_REGISTRY!;
}

Deno.test("the source tree holds placeholders, which is why releases are stamped", async () => {
  assert.match(await templateRegistry(ROOT), /OWNER/);
  assert.doesNotMatch(await templateRegistry(ROOT), IMAGE_PATH, "OWNER is not a valid image path");
});

Deno.test("a file released on GitHub has no placeholder left and names the repository and registry", async () => {
  await using tree = await releaseTree();
  await stampFiles(tree.path, { repository: "Acme-Corp/deploy" });
  for (const file of STAMPED_FILES) {
    const text = await Deno.readTextFile(`${tree.path}/${file}`);
    assert.doesNotMatch(text, /\bOWNER\b/, `${file} still holds a placeholder`);
  }
  const registry = await templateRegistry(tree.path);
  assert.equal(registry, "ghcr.io/acme-corp/deploy");
  assert.match(registry, IMAGE_PATH);
  const install = await Deno.readTextFile(`${tree.path}/scripts/install.sh`);
  assert.match(install, /^releases_url="https:\/\/github\.com\/Acme-Corp\/deploy\/releases"$/m);
  const template = await Deno.readTextFile(`${tree.path}/templates/gitlab/deploy.gitlab-ci.yml`);
  assert.match(
    template,
    /remote: https:\/\/raw\.githubusercontent\.com\/Acme-Corp\/deploy\/v1\/templates\/gitlab\//,
  );
  const syntax = await new Deno.Command("sh", { args: ["-n", `${tree.path}/scripts/install.sh`] })
    .output();
  assert.ok(syntax.success, "the stamped install.sh is not valid sh");
});

Deno.test("a file released on GitLab names the project's registry, raw files and releases", async () => {
  await using tree = await releaseTree();
  await stampFiles(tree.path, {
    repository: "shop/tools/deploy",
    registry: "registry.gitlab.example.com/shop/tools/deploy",
    rawBase: "https://gitlab.example.com/shop/tools/deploy/-/raw/",
    releasesUrl: "https://gitlab.example.com/shop/tools/deploy/-/releases",
  });
  assert.equal(
    await templateRegistry(tree.path),
    "registry.gitlab.example.com/shop/tools/deploy",
  );
  const install = await Deno.readTextFile(`${tree.path}/scripts/install.sh`);
  assert.match(
    install,
    /^releases_url="https:\/\/gitlab\.example\.com\/shop\/tools\/deploy\/-\/releases"$/m,
  );
  const template = await Deno.readTextFile(`${tree.path}/templates/gitlab/deploy.gitlab-ci.yml`);
  assert.match(
    template,
    /remote: https:\/\/gitlab\.example\.com\/shop\/tools\/deploy\/-\/raw\/v1\//,
  );
});

Deno.test("stamping refuses a placeholder it does not know, and bad arguments", async (t) => {
  await t.step("an unknown placeholder left in a file", async () => {
    await using tree = await releaseTree();
    await Deno.writeTextFile(`${tree.path}/action.yml`, "# see OWNER's docs\n", { append: true });
    await assert.rejects(
      stampFiles(tree.path, { repository: "acme/deploy" }),
      (error: unknown) =>
        error instanceof StampError && error.exitCode === 1 &&
        /action\.yml:\d+/.test(error.message),
    );
  });
  await t.step("a repository that is not owner/name", () => {
    assert.throws(() => stamp("x", { repository: "acme" }), StampError);
  });
  await t.step("an uppercase registry", () => {
    assert.throws(() => stamp("x", { repository: "a/b", registry: "ghcr.io/Acme/b" }), /lowercase/);
  });
  await t.step("the CLI exits 2 without --repository", async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", `${ROOT}scripts/stamp.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /--repository is required/);
  });
});

Deno.test("both release pipelines stamp before they publish, and publish the stamped files", async () => {
  const github = await Deno.readTextFile(`${ROOT}.github/workflows/release.yml`);
  const stampAt = github.indexOf("scripts/stamp.ts");
  assert.ok(stampAt > 0 && stampAt < github.indexOf("gh release create"));
  assert.match(github, /dist\/install\.sh dist\/deploy\.gitlab-ci\.yml/);
  const gitlab = await Deno.readTextFile(`${ROOT}.gitlab-ci.yml`);
  assert.match(gitlab, /scripts\/stamp\.ts --repository "\$CI_PROJECT_PATH"/);
  assert.match(gitlab, /dist\/install\.sh dist\/deploy\.gitlab-ci\.yml/);
});
