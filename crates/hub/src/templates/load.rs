//! Loading the library at start: built-in templates, the `templates-dir` files, the config
//! tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentry_core::models::ModelsConfig;
use agentry_core::templates::{RoleTemplate, TemplateDef, TemplateError};

use super::{CONFIG_SOURCE, LoadedTemplate, TemplateLibrary};

/// The directory read when `templates-dir` is unset, relative to the working directory, when
/// it exists.
pub const DEFAULT_TEMPLATES_DIR: &str = "templates/roles";

/// Why the template library could not be loaded; the hub does not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A template is invalid; `origin` says where it came from (`file PATH`, `config
    /// [templates.NAME]`, `built-in NAME`).
    #[error("{origin}: {error}")]
    Template {
        /// Where the template came from.
        origin: String,
        /// What is wrong with it.
        error: TemplateError,
    },
    /// The `templates-dir` directory or one of its files cannot be read.
    #[error("templates-dir: {path}: {reason}")]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
}

/// Returns the library: the built-in templates, then the `*.yaml` / `*.yml` files of `dir`
/// (`templates-dir`; unset: [`DEFAULT_TEMPLATES_DIR`] when it is a directory), then the config
/// file's `tables` (by table name), each replacing a template of the same name; then checks
/// it ([`TemplateLibrary::check`]). Blocking file I/O: call it off the async workers.
///
/// Errors name the file or table, the template and the offending value; a `templates-dir` that
/// cannot be read is an error, a missing default directory is not.
pub fn load_library(
    dir: Option<&Path>,
    tables: &BTreeMap<String, TemplateDef>,
    models: &ModelsConfig,
) -> Result<TemplateLibrary, LoadError> {
    let mut library = TemplateLibrary::builtin()?;
    let default_dir = Path::new(DEFAULT_TEMPLATES_DIR);
    let dir = dir.or_else(|| default_dir.is_dir().then_some(default_dir));
    if let Some(dir) = dir {
        for loaded in read_dir(dir)? {
            library.insert(loaded);
        }
    }
    for (table, def) in tables {
        let origin = || format!("config [templates.{table}]");
        if !def.name.is_empty() && def.name != *table {
            let reason = format!("name {:?} differs from the table's name; remove it or rename the table", def.name);
            let error = TemplateError::Invalid { template: table.clone(), reason };
            return Err(LoadError::Template { origin: origin(), error });
        }
        let template = RoleTemplate::from_def(def.clone(), table)
            .map_err(|error| LoadError::Template { origin: origin(), error })?;
        let yaml = template.to_yaml();
        library.insert(LoadedTemplate { template, source: CONFIG_SOURCE.to_owned(), yaml });
    }
    library.check(models)?;
    Ok(library)
}

/// Reads the templates of the `*.yaml` and `*.yml` files of `dir` (not its subdirectories), in
/// file name order. Two files defining one name are an error.
fn read_dir(dir: &Path) -> Result<Vec<LoadedTemplate>, LoadError> {
    let unreadable =
        |path: &Path, error: std::io::Error| LoadError::Read { path: path.to_owned(), reason: error.to_string() };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|error| unreadable(dir, error))? {
        let path = entry.map_err(|error| unreadable(dir, error))?.path();
        let is_yaml = path.extension().is_some_and(|extension| extension == "yaml" || extension == "yml");
        if is_yaml && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut loaded: Vec<LoadedTemplate> = Vec::with_capacity(paths.len());
    for path in paths {
        let yaml = std::fs::read_to_string(&path).map_err(|error| unreadable(&path, error))?;
        let stem = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        let source = path.display().to_string();
        let template = RoleTemplate::parse_yaml(&yaml, &stem)
            .map_err(|error| LoadError::Template { origin: format!("file {source}"), error })?;
        if let Some(first) = loaded.iter().find(|earlier| earlier.template.name == template.name) {
            let reason = format!("defined by both {} and {source}", first.source);
            let error = TemplateError::Invalid { template: template.name.clone(), reason };
            return Err(LoadError::Template { origin: format!("file {source}"), error });
        }
        loaded.push(LoadedTemplate { template, source, yaml });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::write(dir.join(file), text).expect("writing a template file");
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agentry-templates-{name}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("creating a temporary directory");
        dir
    }

    #[test]
    fn files_and_tables_override_the_builtins_by_name() {
        let dir = temp_dir("override");
        write(&dir, "coder.yaml", "description: my coder\nprompt: Code {{lang}}\nvars: {lang: C}\n");
        write(&dir, "notes.txt", "not a template");
        let tables = BTreeMap::from([(
            "critic".to_owned(),
            TemplateDef { description: "from config".into(), tools: vec!["view".into()], ..TemplateDef::default() },
        )]);
        let library = load_library(Some(&dir), &tables, &ModelsConfig::default()).unwrap();
        let coder = library.get("coder").unwrap();
        assert_eq!(coder.template.description, "my coder");
        assert_eq!(coder.source, dir.join("coder.yaml").display().to_string());
        assert!(coder.yaml.starts_with("description: my coder"));
        let critic = library.get("critic").unwrap();
        assert_eq!((critic.source.as_str(), critic.template.tools.len()), (CONFIG_SOURCE, 1));
        assert!(critic.yaml.contains("description: from config"), "{}", critic.yaml);
        assert_eq!(library.get("agent_0").unwrap().source, super::super::BUILTIN_SOURCE);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_bad_file_or_table_is_named() {
        let dir = temp_dir("bad");
        write(&dir, "coder.yaml", "name: coder\ntools: [view, rm]\n");
        let error = load_library(Some(&dir), &BTreeMap::new(), &ModelsConfig::default()).unwrap_err().to_string();
        let path = dir.join("coder.yaml");
        assert!(error.starts_with(&format!("file {}: template coder: unknown tool \"rm\"", path.display())), "{error}");
        std::fs::remove_dir_all(&dir).ok();
        let missing = load_library(Some(&dir), &BTreeMap::new(), &ModelsConfig::default()).unwrap_err().to_string();
        assert!(missing.starts_with(&format!("templates-dir: {}: ", dir.display())), "{missing}");
        let renamed = BTreeMap::from([("a".to_owned(), TemplateDef { name: "b".into(), ..TemplateDef::default() })]);
        let error = load_library(None, &renamed, &ModelsConfig::default()).unwrap_err().to_string();
        assert_eq!(
            error,
            "config [templates.a]: template a: name \"b\" differs from the table's name; remove it or rename the table"
        );
    }
}
