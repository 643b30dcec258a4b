//! `docs/partition_methods.md` shows exactly the method registry: between its
//! markers the page is `registry::reference_markdown()` (every method, its
//! summary, its options with type, domain and default). Run with
//! `UPDATE_DOCS=1` to rewrite that part of the page after changing the
//! registry.

use agent::partition::registry::reference_markdown;
use tessera_tests::root;

const START: &str = "<!-- registry:start -->\n";
const END: &str = "<!-- registry:end -->";

#[test]
fn the_methods_page_is_the_registry() {
    let path = root().join("docs").join("partition_methods.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page
        .split_once(START)
        .expect("the page has its start marker");
    let (body, tail) = rest.split_once(END).expect("the page has its end marker");
    let want = reference_markdown();
    if body == want {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{head}{START}{want}{END}{tail}")).unwrap();
        return;
    }
    panic!(
        "{} is out of step with the method registry; run with UPDATE_DOCS=1",
        path.display()
    );
}
