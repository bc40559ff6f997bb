/** A throwaway CA and a certificate for 127.0.0.1 it signed, made with `openssl` for the stand-in. */

/** PEM files of the stand-in's TLS identity. */
export interface StandinCert {
  /** The CA certificate: what a client trusts (DENO_CERT). */
  caFile: string;
  /** The server's certificate, PEM. */
  cert: string;
  /** The server's private key, PEM. */
  key: string;
}

/** Creates a CA and a 127.0.0.1 server certificate in `dir`. */
export async function makeCert(dir: string): Promise<StandinCert> {
  const path = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", path("ca.key"), "-out", path("ca.pem")].concat(
    ["-days", "2", "-subj", "/CN=Heroku stand-in CA"],
  ));
  await openssl(["req", ...ec, "-keyout", path("server.key"), "-out", path("server.csr")].concat(
    ["-subj", "/CN=127.0.0.1"],
  ));
  await Deno.writeTextFile(
    path("server.ext"),
    [
      "subjectAltName=IP:127.0.0.1",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    path("server.csr"),
    "-CA",
    path("ca.pem"),
    "-CAkey",
    path("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    path("server.ext"),
    "-out",
    path("server.pem"),
  ]);
  return {
    caFile: path("ca.pem"),
    cert: await Deno.readTextFile(path("server.pem")),
    key: await Deno.readTextFile(path("server.key")),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}
