//! `upkeep-plugin-tool`: the few wasm-tools / wit-bindgen steps that building
//! a C check plugin needs, as one small binary built from library crates (so
//! CI does not `cargo install` wit-bindgen-cli and wasm-tools).
//!
//! ```text
//! upkeep-plugin-tool c-bindings  --wit DIR [--world plugin] --out DIR
//! upkeep-plugin-tool componentize [--wit DIR --world plugin] [--adapter reactor|command|none] CORE.wasm -o OUT.wasm
//! upkeep-plugin-tool wit COMPONENT.wasm [--full]
//! ```

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use wit_component::{ComponentEncoder, DecodedWasm, StringEncoding, WitPrinter};
use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

const USAGE: &str = "\
usage:
  upkeep-plugin-tool c-bindings --wit DIR [--world NAME] --out DIR
      Writes NAME.h, NAME.c and NAME_component_type.o (wit-bindgen's C generator).
  upkeep-plugin-tool componentize [--wit DIR [--world NAME]] [--adapter reactor|command|none] CORE.wasm -o OUT.wasm
      Turns a core wasm module into a component. --wit embeds the world's type
      information first (not needed when NAME_component_type.o was linked in).
      --adapter (default reactor) adapts wasi_snapshot_preview1 imports to WASI p2.
  upkeep-plugin-tool wit COMPONENT.wasm [--full]
      Prints the component's imports and exports (--full: the whole WIT).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("upkeep-plugin-tool: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parsed command line: `--flag value` options, boolean switches, positionals.
#[derive(Default)]
struct Args {
    opts: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], with_value: &[&str], switches: &[&str]) -> Result<Args> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if with_value.contains(&a.as_str()) {
                let v = it.next().with_context(|| format!("{a} needs a value"))?;
                out.opts.push((a.clone(), v.clone()));
            } else if switches.contains(&a.as_str()) {
                out.switches.push(a.clone());
            } else if a.starts_with('-') && a.len() > 1 {
                bail!("unknown option {a}\n{USAGE}");
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.opts.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((cmd, rest)) = args.split_first() else {
        bail!("no subcommand\n{USAGE}");
    };
    match cmd.as_str() {
        "c-bindings" => {
            let a = Args::parse(rest, &["--wit", "--world", "--out"], &[])?;
            let wit = a.get("--wit").context("--wit DIR is required")?;
            let out = a.get("--out").context("--out DIR is required")?;
            c_bindings(Path::new(wit), a.get("--world"), Path::new(out))
        }
        "componentize" => {
            let a = Args::parse(rest, &["--wit", "--world", "--adapter", "-o"], &[])?;
            let [core] = a.positional.as_slice() else {
                bail!("componentize takes exactly one CORE.wasm\n{USAGE}");
            };
            let out = a.get("-o").context("-o OUT.wasm is required")?;
            componentize(
                Path::new(core),
                a.get("--wit").map(Path::new),
                a.get("--world"),
                a.get("--adapter").unwrap_or("reactor"),
                Path::new(out),
            )
        }
        "wit" => {
            let a = Args::parse(rest, &[], &["--full"])?;
            let [file] = a.positional.as_slice() else {
                bail!("wit takes exactly one COMPONENT.wasm\n{USAGE}");
            };
            print_wit(Path::new(file), a.has("--full"))
        }
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown subcommand {other}\n{USAGE}"),
    }
}

fn load_world(wit: &Path, world: Option<&str>) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_path(wit)
        .with_context(|| format!("reading WIT from {}", wit.display()))?;
    let world = resolve.select_world(&[pkg], world)?;
    Ok((resolve, world))
}

fn c_bindings(wit: &Path, world: Option<&str>, out: &Path) -> Result<()> {
    let (mut resolve, world) = load_world(wit, world)?;
    let mut files = wit_bindgen_core::Files::default();
    let opts = wit_bindgen_c::Opts::default();
    opts.build().generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn componentize(
    core: &Path,
    wit: Option<&Path>,
    world: Option<&str>,
    adapter: &str,
    out: &Path,
) -> Result<()> {
    let mut module =
        std::fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    if let Some(wit) = wit {
        let (resolve, world) = load_world(wit, world)?;
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            StringEncoding::UTF8,
            false,
        )?;
    }
    let mut encoder = ComponentEncoder::default();
    encoder.validate(true).module(&module)?;
    use wasi_preview1_component_adapter_provider as adapters;
    let adapter_bytes = match adapter {
        "reactor" => Some(adapters::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER),
        "command" => Some(adapters::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER),
        "none" => None,
        other => bail!("--adapter must be reactor, command or none, not {other}"),
    };
    if let Some(bytes) = adapter_bytes {
        encoder.adapter(adapters::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, bytes)?;
    }
    let component = encoder.encode().context("encoding the component")?;
    std::fs::write(out, &component).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), component.len());
    Ok(())
}

fn print_wit(file: &Path, full: bool) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let decoded = wit_component::decode(&bytes)
        .with_context(|| format!("decoding {}", file.display()))?;
    let DecodedWasm::Component(resolve, world) = &decoded else {
        bail!("{} is a WIT package, not a component", file.display());
    };
    let mut text = String::new();
    if full {
        let mut printer = WitPrinter::default();
        printer.print(resolve, decoded.package(), &[])?;
        text = format!("{}\n", printer.output);
    } else {
        let w = &resolve.worlds[*world];
        for (label, items) in [("import", &w.imports), ("export", &w.exports)] {
            for (key, item) in items {
                text.push_str(&format!("{label} {}\n", describe(resolve, key, item)));
            }
        }
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(())
}

fn describe(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> String {
    let name = resolve.name_world_key(key);
    match item {
        WorldItem::Interface { .. } => format!("interface {name}"),
        WorldItem::Function(f) => format!("func {}", f.name),
        WorldItem::Type { .. } => format!("type {name}"),
    }
}
