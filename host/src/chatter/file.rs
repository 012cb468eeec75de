//! The operator's `--chatter-rules` file: rules and control-plane rows.

use super::*;

/// An operator's control-plane row: a component's identity, added to the
/// built-in rules of its role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComponentSpec {
    pub role: String,
    pub users: Vec<String>,
    pub user_agents: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A compiled `[[control-plane]]` row.
#[derive(Debug, Clone)]
pub struct ComponentRow {
    role: Role,
    identity: Identity,
}

impl ComponentSpec {
    fn compile(&self) -> anyhow::Result<ComponentRow> {
        let role = role_named(&self.role).with_context(|| {
            format!(
                "control-plane row {:?}: `role` must be one of {}",
                self.users,
                ROLE_NAMES.map(|(n, _)| n).join(", ")
            )
        })?;
        anyhow::ensure!(
            !self.users.is_empty() && !self.user_agents.is_empty(),
            "control-plane row of role {}: `users` and `user-agents` are required (a component is its identity AND its agent)",
            self.role
        );
        let users: Vec<&str> = self.users.iter().map(String::as_str).collect();
        let agents: Vec<&str> = self.user_agents.iter().map(String::as_str).collect();
        let sources: Vec<&str> = self.sources.iter().map(String::as_str).collect();
        Ok(ComponentRow {
            role,
            identity: Identity::of(&users, &agents, &sources),
        })
    }
}

/// An operator's chatter file.
#[derive(Debug, Default)]
pub struct ChatterFile {
    pub rules: Vec<ChatterRule>,
    pub control_plane: Vec<ComponentRow>,
}

/// Operator rules: `[[rule]]` tables of [`RuleSpec`] and `[[control-plane]]`
/// tables of [`ComponentSpec`].
pub fn parse_file(text: &str) -> anyhow::Result<ChatterFile> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        rule: Vec<RuleSpec>,
        #[serde(default, rename = "control-plane")]
        control_plane: Vec<ComponentSpec>,
    }
    let file: File = toml::from_str(text)?;
    Ok(ChatterFile {
        rules: file
            .rule
            .iter()
            .map(RuleSpec::compile)
            .collect::<anyhow::Result<_>>()?,
        control_plane: file
            .control_plane
            .iter()
            .map(ComponentSpec::compile)
            .collect::<anyhow::Result<_>>()?,
    })
}

/// Operator rules: `[[rule]]` tables of [`RuleSpec`].
pub fn parse_rules(text: &str) -> anyhow::Result<Vec<ChatterRule>> {
    Ok(parse_file(text)?.rules)
}

/// Add an operator's component to every built-in rule of its role.
pub(super) fn add_component(rules: &mut [ChatterRule], row: &ComponentRow) {
    for rule in rules.iter_mut().filter(|r| r.roles.contains(&row.role)) {
        rule.identities.push(row.identity.clone());
    }
}
