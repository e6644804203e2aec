//! A real smart-HTTP git server: `git http-backend` run as CGI by Python 3's
//! `http.server` (CGIHTTPRequestHandler) on 127.0.0.1 and a free port, serving every
//! repository under the sandbox root; killed on drop.

use super::fleet::{serve, Daemon};
use super::guards::write_exec;
use super::Sandbox;

/// The handler runs the CGI script with subprocess rather than fork: the forking path
/// switches to `nobody` when run as root, who could not write the repository.
const SERVER: &str = "import http.server, sys\n\
class H(http.server.CGIHTTPRequestHandler):\n    have_fork = False\n\
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

pub(crate) struct HttpGit {
    server: Daemon,
}

impl HttpGit {
    /// Serve `<root>/*.git` (receive-pack enabled in `origin.git`) at [`HttpGit::url`].
    pub(crate) fn start(sb: &Sandbox) -> HttpGit {
        let www = sb.root.join("www");
        std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
        let exec_path = sb.git(&sb.root, &["--exec-path"]);
        let script = format!(
            "#!/bin/sh\nGIT_PROJECT_ROOT='{}' GIT_HTTP_EXPORT_ALL=1 exec '{exec_path}/git-http-backend'\n",
            sb.root.display()
        );
        write_exec(&www.join("cgi-bin/git"), &script);
        std::fs::write(www.join("server.py"), SERVER).unwrap();
        sb.git(&sb.origin, &["config", "http.receivepack", "true"]);
        let what = "python3's http.server (the HTTP push tests need python3; .ci/run installs it)";
        let server = serve(what, None, |port| {
            let mut cmd = sb.cmd("python3", &www);
            cmd.arg("server.py").arg(port.to_string());
            cmd
        });
        HttpGit { server }
    }

    /// The smart-HTTP URL of `origin.git`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cgi-bin/git/origin.git", self.server.port)
    }
}
