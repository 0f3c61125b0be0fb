//! What the tests take from `realm-export.json`: the audience, the scopes and the token type
//! of the tokens, read from the file the README imports, so that the file and the tests
//! cannot drift apart.

use serde_json::Value;

/// The public client MCP clients use.
pub(crate) const PUBLIC_CLIENT: &str = "mcp-client";

/// `realm-export.json`, parsed.
pub(crate) struct Realm {
    /// The whole document.
    pub(crate) json: Value,
}

/// A user of the realm, as Keycloak puts it in tokens.
pub(crate) struct User {
    /// `username`, the `preferred_username` claim.
    pub(crate) username: String,
    /// `email`.
    pub(crate) email: String,
    /// `emailVerified`, the `email_verified` claim.
    pub(crate) email_verified: bool,
    /// `firstName lastName`, the `name` claim.
    pub(crate) first_name: String,
    /// `lastName`.
    pub(crate) last_name: String,
    /// The value of the user attribute `tenant`.
    pub(crate) tenant: String,
}

impl Realm {
    /// Reads the file next to `Cargo.toml`.
    pub(crate) fn load() -> Realm {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/realm-export.json");
        let text = std::fs::read_to_string(path).unwrap();
        Realm {
            json: serde_json::from_str(&text).unwrap(),
        }
    }

    /// The realm's name: the last segment of its issuer URL.
    pub(crate) fn name(&self) -> &str {
        self.json["realm"].as_str().unwrap()
    }

    /// The client scope `name`.
    pub(crate) fn scope(&self, name: &str) -> &Value {
        (self.json["clientScopes"].as_array().unwrap().iter())
            .find(|scope| scope["name"] == name)
            .unwrap_or_else(|| panic!("no client scope `{name}` in realm-export.json"))
    }

    /// The client `id`.
    pub(crate) fn client(&self, id: &str) -> &Value {
        (self.json["clients"].as_array().unwrap().iter())
            .find(|client| client["clientId"] == id)
            .unwrap_or_else(|| panic!("no client `{id}` in realm-export.json"))
    }

    /// The client scopes `client` gets without asking (`defaultClientScopes`) or on request
    /// (`optionalClientScopes`).
    pub(crate) fn client_scopes<'a>(&'a self, client: &str, kind: &str) -> Vec<&'a str> {
        strings(&self.client(client)[kind])
    }

    /// The `config` of every mapper of type `mapper` in the scopes of `client`.
    fn mappers<'a>(&'a self, client: &str, mapper: &str) -> Vec<&'a Value> {
        let scopes = [
            self.client_scopes(client, "defaultClientScopes"),
            self.client_scopes(client, "optionalClientScopes"),
        ];
        (scopes.iter().flatten())
            .flat_map(|name| self.scope(name)["protocolMappers"].as_array().unwrap())
            .filter(|m| m["protocolMapper"] == mapper)
            .map(|m| &m["config"])
            .collect()
    }

    /// The audience the audience mappers (`oidc-audience-mapper`) of `client`'s scopes put in
    /// its access tokens: one, the MCP server's resource URL.
    pub(crate) fn audience(&self, client: &str) -> String {
        let mut audiences: Vec<&str> = (self.mappers(client, "oidc-audience-mapper").iter())
            .filter(|config| config["access.token.claim"] == "true")
            .map(|config| config["included.custom.audience"].as_str().unwrap())
            .collect();
        audiences.dedup();
        assert_eq!(audiences.len(), 1, "one audience: {audiences:?}");
        audiences[0].to_owned()
    }

    /// The `typ` header of `client`'s access tokens: `at+jwt` when its
    /// `access.token.header.type.rfc9068` attribute is on, Keycloak's `JWT` otherwise.
    pub(crate) fn token_type(&self, client: &str) -> &'static str {
        let attribute = &self.client(client)["attributes"]["access.token.header.type.rfc9068"];
        if attribute == "true" { "at+jwt" } else { "JWT" }
    }

    /// The `scope` claim of an access token of `client` that asked for `openid` and the
    /// optional scopes `extra`: `openid`, then every default and requested scope whose
    /// `include.in.token.scope` is on.
    pub(crate) fn scope_claim(&self, client: &str, extra: &[&str]) -> String {
        let mut names = self.client_scopes(client, "defaultClientScopes");
        let optional = self.client_scopes(client, "optionalClientScopes");
        for scope in extra {
            assert!(optional.contains(scope), "`{scope}` is not optional");
            names.push(scope);
        }
        let included = names
            .into_iter()
            .filter(|name| self.scope(name)["attributes"]["include.in.token.scope"] == "true");
        std::iter::once("openid")
            .chain(included)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The claim the user attribute `tenant` is mapped to in `client`'s access tokens.
    pub(crate) fn tenant_claim(&self, client: &str) -> String {
        let mappers = self.mappers(client, "oidc-usermodel-attribute-mapper");
        let config = (mappers.iter())
            .find(|config| config["user.attribute"] == "tenant")
            .expect("a mapper of the user attribute `tenant`");
        assert_eq!(config["access.token.claim"], "true");
        config["claim.name"].as_str().unwrap().to_owned()
    }

    /// The user `username`.
    pub(crate) fn user(&self, username: &str) -> User {
        let user = (self.json["users"].as_array().unwrap().iter())
            .find(|user| user["username"] == username)
            .unwrap_or_else(|| panic!("no user `{username}` in realm-export.json"));
        let text = |key: &str| user[key].as_str().unwrap().to_owned();
        User {
            username: text("username"),
            email: text("email"),
            email_verified: user["emailVerified"].as_bool().unwrap(),
            first_name: text("firstName"),
            last_name: text("lastName"),
            tenant: user["attributes"]["tenant"][0].as_str().unwrap().to_owned(),
        }
    }

    /// The declarative user profile (`kc.user.profile.config`), parsed.
    pub(crate) fn user_profile(&self) -> Value {
        let component = &self.json["components"]["org.keycloak.userprofile.UserProfileProvider"][0];
        let config = component["config"]["kc.user.profile.config"][0]
            .as_str()
            .unwrap();
        serde_json::from_str(config).unwrap()
    }
}

/// An array of strings.
pub(crate) fn strings(value: &Value) -> Vec<&str> {
    (value.as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap())
        .collect()
}
