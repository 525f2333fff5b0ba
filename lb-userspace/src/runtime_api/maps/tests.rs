use super::*;
use crate::acl::MatchMethod;
use crate::map::{IndexSpec, OutputType, Registry};
use crate::runtime_api::testutil::TestRt;

/// A registry of its own (the process's is shared by every test), with a host map used by
/// a `map_str` converter and a `map_beg(...,int)` one, and a path pattern file used by an
/// `-m beg` ACL. The indexes are returned so that they stay in use.
struct Fixture {
    t: TestRt,
    hosts: Arc<PatRef>,
    _in_use: Vec<Arc<Index>>,
}

const HOSTS: &str = "/etc/lb/hosts.map";
const PORTS: &str = "/etc/lb/ports.map";
const PATHS: &str = "/etc/lb/paths.acl";

fn fixture() -> Fixture {
    let reg: &'static Registry = Box::leak(Box::default());
    let hosts = reg
        .load_text(
            HOSTS,
            RefKind::Map,
            "www.example.com be_www\napi.example.com be_api\n",
        )
        .unwrap();
    let ports = reg.load_text(PORTS, RefKind::Map, "80 1\n443 2\n").unwrap();
    let paths = reg
        .load_text(PATHS, RefKind::Patterns, "/api\n/static\n")
        .unwrap();
    let spec = |method, output| IndexSpec {
        method,
        icase: false,
        output,
    };
    let in_use = vec![
        hosts
            .index(spec(MatchMethod::Str, Some(OutputType::Str)))
            .unwrap(),
        ports
            .index(spec(MatchMethod::Beg, Some(OutputType::Int)))
            .unwrap(),
        paths.index(spec(MatchMethod::Beg, None)).unwrap(),
    ];
    let t = TestRt {
        rt: TestRt::new("").rt.with_maps(reg),
    };
    Fixture {
        t,
        hosts,
        _in_use: in_use,
    }
}

impl Fixture {
    fn run(&self, cmd: &str) -> String {
        self.t.run(cmd, 0)
    }

    fn lookup(&self, key: &str) -> Option<String> {
        let index = &self._in_use[0];
        let found = index.lookup(Sample::Str(Cow::Borrowed(key)))?;
        match found.value {
            Some(MapValue::Str(s)) => Some(s.to_string()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn show_lists_files_then_entries() {
    let f = fixture();
    assert_eq!(
        f.run("show map"),
        "# id (file) description\n\
         0 (/etc/lb/hosts.map) pattern loaded from file '/etc/lb/hosts.map'. curr_ver=0 next_ver=0 entry_cnt=2\n\
         2 (/etc/lb/ports.map) pattern loaded from file '/etc/lb/ports.map'. curr_ver=0 next_ver=0 entry_cnt=2\n\n"
    );
    assert_eq!(
        f.run("show acl"),
        "# id (file) description\n\
         1 (/etc/lb/paths.acl) pattern loaded from file '/etc/lb/paths.acl'. curr_ver=0 next_ver=0 entry_cnt=2\n\n"
    );
    let entries = "0x0 www.example.com be_www\n0x1 api.example.com be_api\n\n";
    assert_eq!(f.run(&format!("show map {HOSTS}")), entries);
    assert_eq!(f.run("show map #0"), entries);
    assert_eq!(f.run("show acl #1"), "0x0 /api\n0x1 /static\n\n");
    let unknown = "Unknown map identifier. Please use #<id> or <file>.\n\n";
    assert_eq!(f.run("show map /nope"), unknown);
    assert_eq!(f.run("show map #1"), unknown, "an ACL file is not a map");
    assert_eq!(
        f.run("show acl #0"),
        "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
    );
}

#[test]
fn get_reports_each_index() {
    let f = fixture();
    assert_eq!(
        f.run(&format!("get map {HOSTS} www.example.com")),
        "type=str, case=sensitive, found=yes, idx=tree, key=\"www.example.com\", value=\"be_www\", type=\"str\"\n\n"
    );
    assert_eq!(
        f.run(&format!("get map {HOSTS} nope.example.com")),
        "type=str, case=sensitive, found=no\n\n"
    );
    assert_eq!(
        f.run(&format!("get map {PORTS} 4430")),
        "type=beg, case=sensitive, found=yes, idx=tree, key=\"443\", value=\"2\", type=\"sint\"\n\n"
    );
    assert_eq!(
        f.run(&format!("get acl {PATHS} /static/app.js")),
        "type=beg, case=sensitive, match=yes, idx=tree, pattern=\"/static\"\n\n"
    );
    assert_eq!(
        f.run(&format!("get map {HOSTS}")),
        "Missing map identifier and/or key.\n\n"
    );
    assert_eq!(
        f.run("get acl /nope x"),
        "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
    );
}

#[test]
fn add_del_set_clear_change_every_user_at_once() {
    let f = fixture();
    assert_eq!(
        f.run(&format!("add map {HOSTS} new.example.com be_new")),
        "\n"
    );
    assert_eq!(f.lookup("new.example.com").as_deref(), Some("be_new"));
    assert_eq!(
        f.run(&format!("set map {HOSTS} new.example.com be_other")),
        "\n"
    );
    assert_eq!(f.lookup("new.example.com").as_deref(), Some("be_other"));
    // By reference, as `show map` prints it.
    let line = f.run(&format!("show map {HOSTS}"));
    let reference = line
        .lines()
        .nth(2)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(f.run(&format!("set map #0 #{reference} be_third")), "\n");
    assert_eq!(f.lookup("new.example.com").as_deref(), Some("be_third"));
    assert_eq!(f.run(&format!("del map {HOSTS} #{reference}")), "\n");
    assert_eq!(f.lookup("new.example.com"), None);
    assert_eq!(f.run(&format!("del map {HOSTS} www.example.com")), "\n");
    assert_eq!(f.lookup("www.example.com"), None);
    assert_eq!(f.hosts.len(), 1);
    assert_eq!(f.run(&format!("clear map {HOSTS}")), "\n");
    assert_eq!(f.lookup("api.example.com"), None);
    assert!(f.hosts.is_empty());
    // ACL files take patterns.
    assert_eq!(f.run(&format!("add acl {PATHS} /admin")), "\n");
    assert!(
        f.run(&format!("get acl {PATHS} /admin/x"))
            .contains("match=yes")
    );
    assert_eq!(f.run(&format!("del acl {PATHS} /admin")), "\n");
    assert_eq!(f.run(&format!("clear acl {PATHS}")), "\n");
    assert_eq!(f.run("show acl #1"), "\n");
}

#[test]
fn add_with_a_payload() {
    let f = fixture();
    let cmd =
        format!("add map {HOSTS} <<\na.example.com be_a\nb.example.com  value with spaces\n\n");
    assert_eq!(f.run(&cmd), "\n");
    assert_eq!(f.lookup("a.example.com").as_deref(), Some("be_a"));
    assert_eq!(
        f.lookup("b.example.com").as_deref(),
        Some("value with spaces")
    );
    let cmd = format!("add map {HOSTS} <<\nc.example.com\n\n");
    assert_eq!(f.run(&cmd), "Missing value for key 'c.example.com'.\n\n");
}

#[test]
fn errors_as_haproxy() {
    let f = fixture();
    assert_eq!(
        f.run(&format!("add map {HOSTS} k")),
        "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n\n"
    );
    assert_eq!(
        f.run("add acl"),
        "'add acl' expects two parameters: ACL identifier and pattern.\n\n"
    );
    assert_eq!(
        f.run(&format!("add acl {HOSTS} x")),
        "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n\n"
    );
    assert_eq!(
        f.run(&format!("add map {PORTS} 8080 eighty")),
        "file '/etc/lb/ports.map': unable to parse 'eighty' as integer.\n\n"
    );
    assert_eq!(
        f.run(&format!("show map {PORTS}")).lines().count(),
        3,
        "nothing added"
    );
    assert_eq!(
        f.run(&format!("del map {HOSTS}")),
        "This command expects two parameters: map identifier and key.\n\n"
    );
    assert_eq!(
        f.run(&format!("del map {HOSTS} nope")),
        "Key not found.\n\n"
    );
    assert_eq!(
        f.run(&format!("del map {HOSTS} #0x99")),
        "Key not found.\n\n"
    );
    assert_eq!(
        f.run(&format!("del map {HOSTS} #0xzz")),
        "Malformed identifier. Please use #<id> or <file>.\n\n"
    );
    assert_eq!(
        f.run(&format!("set map {HOSTS} www.example.com")),
        "'set map' expects three parameters: map identifier, key and value.\n\n"
    );
    assert_eq!(
        f.run(&format!("set map {HOSTS} nope v")),
        "entry not found.\n\n"
    );
    assert_eq!(
        f.run(&format!("set map {HOSTS} #0x99 v")),
        "key or pattern not found.\n\n"
    );
    assert_eq!(f.run("clear map"), "Missing map identifier.\n\n");
    assert_eq!(
        f.run("clear map /nope"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );
}

#[test]
fn changes_need_the_operator_level() {
    let f = fixture();
    let user = |cmd: &str| f.t.run_as(Level::User, cmd, 0);
    for cmd in [
        format!("add map {HOSTS} k v"),
        format!("del map {HOSTS} www.example.com"),
        format!("set map {HOSTS} www.example.com v"),
        format!("clear map {HOSTS}"),
        format!("add acl {PATHS} /x"),
        format!("clear acl {PATHS}"),
    ] {
        assert_eq!(user(&cmd), "Permission denied\n\n", "{cmd}");
    }
    assert_eq!(f.hosts.len(), 2);
    assert!(user(&format!("show map {HOSTS}")).starts_with("0x0 "));
    assert!(user(&format!("get map {HOSTS} www.example.com")).contains("found=yes"));
    assert_eq!(
        f.t.run_as(Level::Operator, &format!("add map {HOSTS} k v"), 0),
        "\n"
    );
}
