//! What modules may ask of the engine while they run (controller files, templating, variables, facts),
//! answered with the task's own variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::run::Run;
use crate::modules::{FileKind, TaskEnv};
use crate::playbook::RoleScope;
use crate::template::{FileSyntax, TemplateError};
use crate::vars::{LayerKind, VarScope};
use crate::yaml::Span;

pub(crate) struct ExecEnv {
    run: Arc<Run>,
    scope: VarScope,
    role: Option<Arc<RoleScope>>,
    host: String,
}

impl ExecEnv {
    pub fn new(run: Arc<Run>, scope: VarScope, role: Option<Arc<RoleScope>>, host: String) -> ExecEnv {
        ExecEnv { run, scope, role, host }
    }
}

impl TaskEnv for ExecEnv {
    /// Ansible's search order: the role's files/ (or templates/), the role itself, then the playbook's
    /// files/ (or templates/) and the playbook folder.
    fn find_file(&self, kind: FileKind, name: &str) -> Result<PathBuf, String> {
        let p = PathBuf::from(name);
        if p.is_absolute() {
            return if p.exists() { Ok(p) } else { Err(format!("could not find {name} on the controller")) };
        }
        let sub = match kind {
            FileKind::Files => "files",
            FileKind::Templates => "templates",
        };
        let mut candidates = Vec::new();
        if let Some(r) = &self.role {
            candidates.push(r.path.join(sub).join(&p));
            candidates.push(r.path.join(&p));
        }
        candidates.push(self.run.playbook.dir.join(sub).join(&p));
        candidates.push(self.run.playbook.dir.join(&p));
        candidates.iter().find(|c| c.exists()).cloned().ok_or_else(|| {
            let searched: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            format!("could not find '{name}' (searched: {})", searched.join(", "))
        })
    }

    fn render(&self, text: &str, origin: &str) -> Result<String, TemplateError> {
        self.run.templar.render_text(text, &self.scope, &Span::new(origin, 1, 1))
    }

    /// Ansible's template search path: the role's templates/ and folder, the playbook's, then the template's
    /// own folder (each as `X/templates` and `X`). Only a file that includes or imports needs it.
    fn render_file(&self, text: &str, path: &Path, mut syntax: FileSyntax, src: &str, dest: &str) -> Result<String, TemplateError> {
        if ["include", "import", "extends"].iter().any(|w| text.contains(w)) {
            let mut dirs: Vec<PathBuf> = Vec::new();
            if let Some(r) = &self.role {
                dirs.push(r.path.clone());
            }
            dirs.push(self.run.playbook.dir.clone());
            dirs.extend(path.parent().map(Path::to_path_buf));
            syntax.search = dirs.into_iter().flat_map(|d| [d.join("templates"), d]).collect();
        }
        let opts = crate::template::TextOptions::default();
        // Ansible puts its template variables over the task's (ansible_managed only when the user has none).
        let file_vars = crate::template::template_file_vars(src, path, Some(dest), self.scope.contains("ansible_managed"));
        let scope = self.scope.with_layer(LayerKind::Magic, "template file", std::sync::Arc::new(file_vars));
        self.run.templar.render_file(text, &scope, &Span::new(path.display().to_string(), 1, 1), opts, &syntax)
    }

    fn eval(&self, expr: &str) -> Result<Value, TemplateError> {
        self.run.templar.eval_expression(expr, &self.scope, &Span::synthetic("expression"))
    }

    fn condition(&self, expr: &str) -> Result<bool, TemplateError> {
        self.run.templar.eval_condition(expr, &self.scope, &Span::synthetic("condition"))
    }

    fn fact(&self, name: &str) -> Option<Value> {
        self.run.knowledge(&self.host).facts.get(name).cloned()
    }

    fn base_dir(&self) -> PathBuf {
        self.run.playbook.dir.clone()
    }
}
