//! The built-in vocabulary: path words and file extensions that are safe to
//! keep in a path, because they name parts of an application (APIs, assets,
//! documentation, add-on lifecycle), never people or their content.

use std::cmp::Ordering;

/// Common path words, lower case, sorted (binary search). Never a person's
/// name: a test checks none of a list of common first and last names is
/// here.
pub(crate) const WORDS: [&str; 393] = [
    "about", "access", "account", "accounts", "action", "actions", "activate", "activity", "add", "addon", "addons",
    "admin", "administration", "agile", "ajax", "alert", "alerts", "all", "analytics", "api", "app", "apps",
    "archive", "archives", "article", "articles", "asset", "assets", "atlassian-connect", "attachment",
    "attachments", "audit", "auth", "authenticate", "authorization", "authorize", "avatar", "avatars", "backlog",
    "batch", "beta", "billing", "blog", "blogs", "board", "boards", "bootstrap", "browse", "build", "builds",
    "bundle", "bundles", "cache", "calendar", "callback", "callbacks", "cart", "catalog", "categories", "category",
    "changelog", "changes", "chart", "charts", "check", "checkout", "chunk", "chunks", "client", "clients", "cloud",
    "collaboration", "comment", "comments", "common", "component", "components", "config", "configuration",
    "confluence", "connect", "contact", "content", "contents", "context", "count", "create", "cs", "css", "current",
    "customer", "customers", "da", "dashboard", "dashboards", "data", "de", "default", "delete", "descriptor",
    "detail", "details", "dev", "diff", "disabled", "display", "dist", "doc", "docs", "documentation", "download",
    "downloads", "draft", "drafts", "edit", "editor", "email", "embed", "en", "enabled", "entities", "entity",
    "error", "errors", "es", "event", "events", "export", "extension", "extensions", "favicon.ico", "feed", "feeds",
    "fi", "field", "fields", "file", "files", "filter", "filters", "font", "fonts", "form", "forms", "fr",
    "frontend", "gadget", "gadgets", "gb", "general", "getting-started", "graphql", "group", "groups", "guide",
    "guides", "health", "healthcheck", "healthz", "help", "history", "home", "hook", "hooks", "i18n", "icon",
    "icons", "image", "images", "img", "import", "index", "index.html", "info", "install", "installed",
    "integration", "integrations", "internal", "invite", "issue", "issues", "it", "item", "items", "ja", "jira",
    "jql", "js", "json", "ko", "label", "labels", "latest", "legal", "lib", "libs", "license", "licenses",
    "lifecycle", "link", "links", "list", "live", "livez", "locale", "locales", "log", "login", "logo", "logos",
    "logout", "logs", "macro", "macros", "main", "manage", "manifest", "manifest.json", "media", "member",
    "members", "menu", "meta", "metrics", "min", "mobile", "module", "modules", "nb", "new", "news", "nl",
    "notification", "notifications", "oauth", "oauth2", "oembed", "open", "openapi", "options", "org",
    "organization", "organizations", "overview", "page", "pages", "panel", "pay", "payment", "payments", "people",
    "permission", "permissions", "ping", "pl", "plugin", "plugins", "policy", "polyfills", "portal", "post",
    "posts", "preferences", "preview", "pricing", "privacy", "profile", "profiles", "project", "projects", "pt",
    "public", "query", "queue", "rapidboard", "ready", "readyz", "recent", "redirect", "register", "release",
    "releases", "remove", "render", "report", "reports", "request", "requests", "resource", "resources", "rest",
    "robots.txt", "role", "roles", "root", "rss", "ru", "runtime", "script", "scripts", "search", "secure",
    "security", "server", "service", "servicedesk", "services", "servlet", "session", "sessions", "settings",
    "setup", "share", "shared", "signin", "signout", "signup", "sitemap", "sitemap.xml", "space", "spaces",
    "sprint", "sprints", "src", "start", "static", "stats", "status", "style", "styles", "support", "sv", "sync",
    "system", "tag", "tags", "task", "tasks", "team", "teams", "template", "templates", "terms", "test", "theme",
    "themes", "thumbnail", "thumbnails", "tools", "tr", "track", "tracking", "types", "ui", "uninstalled", "update",
    "updates", "upload", "uploads", "us", "user", "users", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9",
    "vendor", "vendors", "version", "versions", "view", "viewpage", "viewpage.action", "viewprofile", "webhook",
    "webhooks", "webjars", "webresources", "welcome", "widget", "widgets", "wiki", "workflow", "workflows",
    "workspace", "workspaces", "zh",
];

/// File extensions kept after a judged stem (`/u/jane.png` -> `/u/{text}.png`),
/// lower case, sorted. Never a name either (so not `do`).
pub(crate) const FILE_EXTENSIONS: [&str; 31] = [
    "action", "avif", "bmp", "cjs", "css", "csv", "eot", "gif", "htm", "html", "ico", "jpeg", "jpg", "js", "json",
    "jsp", "jspa", "map", "mjs", "otf", "pdf", "png", "svg", "ttf", "txt", "wasm", "webmanifest", "webp", "woff",
    "woff2", "xml",
];

/// `word` (lower case) against `s` compared ASCII-case-insensitively.
pub(crate) fn cmp_ci(word: &str, s: &str) -> Ordering {
    word.bytes().cmp(s.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Whether `s` is a built-in path word, in any ASCII case.
pub fn is_builtin_word(s: &str) -> bool {
    WORDS.binary_search_by(|w| cmp_ci(w, s)).is_ok()
}

/// Whether `s` is a file extension (without the dot) kept after a stem, in
/// any ASCII case.
pub fn is_file_extension(s: &str) -> bool {
    FILE_EXTENSIONS.binary_search_by(|w| cmp_ci(w, s)).is_ok()
}
