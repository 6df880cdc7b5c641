// Builds the claim page into dist/: one index.html with its script and style inlined, so
// the built page works offline from any static host (or `ame serve`). The contract ABI is
// taken from the committed artifact (ame_chain/artifacts), the one the Python client uses.
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const artifact = join(here, "..", "..", "ame_chain", "artifacts", "AmeSettlement.json");
const out = process.argv[2] ?? join(here, "dist");

const abiPlugin = {
  name: "ame-abi",
  setup(b) {
    b.onResolve({ filter: /^ame:abi$/ }, () => ({ path: artifact, namespace: "ame-abi" }));
    b.onLoad({ filter: /.*/, namespace: "ame-abi" }, () => ({
      contents: `export const ABI = ${JSON.stringify(JSON.parse(readFileSync(artifact, "utf8")).abi)};`,
      loader: "js",
    }));
  },
};

const result = await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  write: false,
  legalComments: "none",
  plugins: [abiPlugin],
});
const script = result.outputFiles[0].text.replaceAll("</script", "<\\/script");
const style = readFileSync(join(here, "src", "style.css"), "utf8");
const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("/*STYLE*/", () => style)
  .replace("/*SCRIPT*/", () => script);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "index.html"), html);
console.log(`built ${join(out, "index.html")} (${html.length} bytes)`);
