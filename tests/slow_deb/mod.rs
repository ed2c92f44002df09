//! A Debian package whose postinst takes its time, to catch apt and dpkg halfway (Ctrl-C, a cut connection, a
//! reboot). Built on the host itself with dpkg-deb; shared by the container and the VM tests.
#![allow(dead_code)]

/// Where [`build_script`] leaves the package.
pub const PATH: &str = "/root/hlprov-slow_1.0_all.deb";

/// A POSIX sh script that builds the package `hlprov-slow` at [`PATH`], with `postinst` as its postinst (printf
/// format: `\\n` for a newline).
pub fn build_script(postinst: &str) -> String {
    format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN; \
         printf 'Package: hlprov-slow\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@example.org>\\nDescription: slow\\n' > $d/DEBIAN/control; \
         printf '{postinst}' > $d/DEBIAN/postinst; \
         chmod 0755 $d/DEBIAN/postinst; dpkg-deb --build --root-owner-group $d {PATH} >/dev/null"
    )
}
