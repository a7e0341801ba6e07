//! Which cgroup hierarchies are mounted, read from mountinfo rather than by
//! looking at fixed paths, because distributions and container hosts mount
//! them in different places.

use std::path::{Path, PathBuf};

use crate::mountinfo::MountInfo;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Only v1 hierarchies.
    V1,
    /// The unified hierarchy at /sys/fs/cgroup (or, with no v1 hierarchy
    /// either, wherever cgroup2 is mounted).
    V2,
    /// v1 hierarchies plus a cgroup2 mount that holds the controllers no v1
    /// hierarchy claimed, as systemd sets up at /sys/fs/cgroup/unified.
    Hybrid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    /// `None` when no cgroup filesystem is mounted at all.
    pub layout: Option<CgroupLayout>,
    /// One entry per v1 controller or named hierarchy (`name=systemd`);
    /// controllers mounted together share a mount point.
    pub v1_controllers: Vec<V1Controller>,
    pub v2: Option<V2Hierarchy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Controller {
    pub name: String,
    pub mount_point: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Hierarchy {
    pub mount_point: PathBuf,
    /// The controllers listed in `cgroup.controllers` at the mount point.
    pub controllers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CgroupMounts {
    pub layout: Option<CgroupLayout>,
    pub v1_controllers: Vec<V1Controller>,
    pub v2_mount_point: Option<PathBuf>,
}

pub(super) fn find_cgroup_mounts(mounts: &[MountInfo]) -> CgroupMounts {
    let mut v1_controllers: Vec<V1Controller> = Vec::new();
    for mount in mounts.iter().filter(|mount| mount.fs_type == "cgroup") {
        for name in v1_controller_names(&mount.super_options) {
            // A hierarchy that is mounted again (a bind mount, a container's
            // view) is the same hierarchy: the first mount is the one to use.
            if !v1_controllers.iter().any(|known| known.name == name) {
                v1_controllers.push(V1Controller {
                    name: name.to_owned(),
                    mount_point: mount.mount_point.clone(),
                });
            }
        }
    }

    let cgroup2_mount_points: Vec<&Path> = mounts
        .iter()
        .filter(|mount| mount.fs_type == "cgroup2")
        .map(|mount| mount.mount_point.as_path())
        .collect();
    let unified_at_root = cgroup2_mount_points.contains(&Path::new(CGROUP_ROOT));
    let v2_mount_point = if unified_at_root {
        Some(PathBuf::from(CGROUP_ROOT))
    } else {
        cgroup2_mount_points.first().map(|path| path.to_path_buf())
    };

    let layout = match (unified_at_root, v1_controllers.is_empty(), &v2_mount_point) {
        (true, _, _) => Some(CgroupLayout::V2),
        (false, false, Some(_)) => Some(CgroupLayout::Hybrid),
        (false, false, None) => Some(CgroupLayout::V1),
        (false, true, Some(_)) => Some(CgroupLayout::V2),
        (false, true, None) => None,
    };

    CgroupMounts {
        layout,
        v1_controllers,
        v2_mount_point,
    }
}

/// The super options of a v1 mount are its controllers mixed with the
/// hierarchy's mount flags (kernel/cgroup/cgroup-v1.c, cgroup1_show_options).
fn v1_controller_names(super_options: &[String]) -> impl Iterator<Item = &str> {
    const NOT_CONTROLLERS: &[&str] = &[
        "rw",
        "ro",
        "noprefix",
        "xattr",
        "clone_children",
        "cpuset_v2_mode",
        "favordynmods",
    ];
    super_options
        .iter()
        .map(String::as_str)
        .filter(|option| !NOT_CONTROLLERS.contains(option) && !option.starts_with("release_agent="))
}

/// `cgroup.controllers` is one line of space-separated names, empty when the
/// hierarchy has no controllers.
pub(super) fn parse_controllers(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo;

    /// This development host: systemd's hybrid layout with cgroup2 holding
    /// only what no v1 hierarchy took.
    const HYBRID: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
23 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// CentOS 7 style: co-mounted controllers, systemd's named hierarchy with
    /// its release agent, and no cgroup2 anywhere.
    const PURE_V1: &str = "\
18 60 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpuacct,cpu
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
30 24 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,net_prio,net_cls
31 24 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpuset,clone_children
";

    /// A current systemd host: only the unified hierarchy.
    const PURE_V2: &str = "\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    fn find(fixture: &str) -> CgroupMounts {
        find_cgroup_mounts(&mountinfo::parse(fixture.as_bytes()).expect("fixture parses"))
    }

    fn names(found: &CgroupMounts) -> Vec<&str> {
        found
            .v1_controllers
            .iter()
            .map(|controller| controller.name.as_str())
            .collect()
    }

    #[test]
    fn recognises_the_hybrid_layout() {
        let found = find(HYBRID);
        assert_eq!(found.layout, Some(CgroupLayout::Hybrid));
        assert_eq!(
            names(&found),
            [
                "cpu",
                "cpuacct",
                "cpuset",
                "memory",
                "devices",
                "freezer",
                "blkio",
                "pids",
                "name=systemd"
            ]
        );
        assert_eq!(
            found.v1_controllers[3],
            V1Controller {
                name: "memory".into(),
                mount_point: "/sys/fs/cgroup/memory".into()
            }
        );
        assert_eq!(found.v2_mount_point, Some("/sys/fs/cgroup/unified".into()));
    }

    #[test]
    fn recognises_pure_v1_and_skips_mount_flags() {
        let found = find(PURE_V1);
        assert_eq!(found.layout, Some(CgroupLayout::V1));
        assert_eq!(
            names(&found),
            [
                "name=systemd",
                "cpuacct",
                "cpu",
                "memory",
                "net_prio",
                "net_cls",
                "cpuset"
            ]
        );
        let co_mounted: Vec<&Path> = found.v1_controllers[1..3]
            .iter()
            .map(|controller| controller.mount_point.as_path())
            .collect();
        assert_eq!(co_mounted, [Path::new("/sys/fs/cgroup/cpu,cpuacct"); 2]);
        assert_eq!(found.v2_mount_point, None);
    }

    #[test]
    fn recognises_pure_v2() {
        let found = find(PURE_V2);
        assert_eq!(found.layout, Some(CgroupLayout::V2));
        assert!(found.v1_controllers.is_empty());
        assert_eq!(found.v2_mount_point, Some(CGROUP_ROOT.into()));
    }

    #[test]
    fn a_cgroup2_mount_elsewhere_alone_is_v2() {
        let found = find("28 24 0:26 / /run/cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(found.layout, Some(CgroupLayout::V2));
        assert_eq!(found.v2_mount_point, Some("/run/cg".into()));
    }

    #[test]
    fn a_remounted_v1_hierarchy_keeps_its_first_mount_point() {
        let fixture = "\
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
90 80 0:32 /kubepods /var/lib/pod/memory rw - cgroup cgroup rw,memory
";
        let found = find(fixture);
        assert_eq!(found.v1_controllers.len(), 1);
        assert_eq!(
            found.v1_controllers[0].mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn no_cgroup_mount_means_no_layout() {
        let found = find("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n");
        assert_eq!(found.layout, None);
        assert!(found.v1_controllers.is_empty());
        assert_eq!(found.v2_mount_point, None);
    }

    #[test]
    fn parses_cgroup_controllers() {
        assert_eq!(
            parse_controllers("cpuset cpu io memory hugetlb pids rdma misc\n"),
            [
                "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"
            ]
        );
        assert_eq!(parse_controllers("hugetlb\n"), ["hugetlb"]);
        assert!(parse_controllers("\n").is_empty());
    }
}
