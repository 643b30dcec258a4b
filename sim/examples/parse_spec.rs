fn main() {
    for f in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&f).unwrap();
        match sim::spec::HwSpec::from_toml_str(&text, &f) {
            Ok(s) => println!("{f}: ok {:?} links={} route0->3={:?}", s.summary(), s.links.len(), s.routes.path(sim::spec::ChipletId(0), sim::spec::ChipletId(3))),
            Err(e) => println!("{e}"),
        }
    }
}
