/**
 * How the GitHub Actions runner reads what a step leaves, modelled on actions/runner (commit
 * 258d6c857db3519913f7deb6004b60172f8043ae), so that tests parse by the runner's rules:
 * - workflow commands: src/Runner.Common/ActionCommand.cs, TryParseV2 and its UnescapeData /
 *   UnescapeProperty (a line is trimmed at the start, `::name props::data`, properties split on
 *   `,` then on the first `=`), read from stdout and stderr alike
 *   (src/Runner.Worker/Handlers/ScriptHandler.cs, lines 335-336);
 * - GITHUB_OUTPUT: src/Runner.Worker/FileCommandManager.cs, `NAME=VALUE` or `NAME<<DELIMITER`
 *   lines; anything else is an error that fails the step.
 *
 * @module
 */

/** One parsed workflow command. */
export interface WorkflowCommand {
  /** error, warning, group... */
  command: string;
  /** Unescaped properties (title, file...). */
  properties: Record<string, string>;
  /** Unescaped data. */
  data: string;
}

const COMMANDS = new Set(["error", "warning", "notice", "debug", "group", "endgroup", "add-mask"]);

/** The workflow commands in `output`, one per line, as the runner reads them. */
export function workflowCommands(output: string): WorkflowCommand[] {
  const found: WorkflowCommand[] = [];
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trimStart();
    if (!line.startsWith("::")) continue;
    const end = line.indexOf("::", 2);
    if (end < 0) continue;
    const info = line.slice(2, end);
    const space = info.indexOf(" ");
    const command = space < 0 ? info : info.slice(0, space);
    if (!COMMANDS.has(command)) continue;
    const properties: Record<string, string> = {};
    if (space > 0) {
      for (const pair of info.slice(space + 1).trim().split(",").filter(Boolean)) {
        const eq = pair.indexOf("=");
        if (eq > 0 && eq < pair.length - 1) {
          properties[pair.slice(0, eq)] = unescape(pair.slice(eq + 1), true);
        }
      }
    }
    found.push({ command, properties, data: unescape(line.slice(end + 2), false) });
  }
  return found;
}

// the runner replaces each escape in turn, %25 last (its mapping tables' order)
function unescape(text: string, property: boolean): string {
  let out = text.replaceAll("%0D", "\r").replaceAll("%0A", "\n");
  if (property) out = out.replaceAll("%3A", ":").replaceAll("%2C", ",");
  return out.replaceAll("%25", "%");
}

/** The outputs in a GITHUB_OUTPUT file; throws where the runner would fail the step. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line === "") continue;
    const eq = line.indexOf("=");
    const heredoc = line.indexOf("<<");
    if (eq >= 0 && (heredoc < 0 || eq < heredoc)) {
      if (eq === 0) throw new Error(`Invalid format '${line}'. Name must not be empty`);
      outputs[line.slice(0, eq)] = line.slice(eq + 1);
    } else if (heredoc > 0 && heredoc + 2 < line.length) {
      const delimiter = line.slice(heredoc + 2);
      const value: string[] = [];
      for (i++; lines[i]?.replace(/\r$/, "") !== delimiter; i++) {
        if (i >= lines.length) throw new Error(`Matching delimiter not found '${delimiter}'`);
        value.push(lines[i]!);
      }
      outputs[line.slice(0, heredoc)] = value.join("\n");
    } else {
      throw new Error(`Invalid format '${line}'`);
    }
  }
  return outputs;
}
