//! Resolved history and the archive: what a save moves out of memory ([`Projection::split`]),
//! and what an event about an archived slug takes back first, so every decision is the
//! one the whole log gives.

use super::fold::Line;
use super::{completed_key, key_slug, Projection};
use crate::candidate::Started;
use crate::error::Result;
use crate::events;
use crate::notification::NotificationState;
use crate::store::archive::{self, Archive, Record, SlugRecord};
use crate::store::StateDir;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

impl Projection {
    /// Before folding `e`: take back from the archive what it needs — the history of the
    /// slug it names, and the push of the candidate a `deployment.started` declares.
    pub(super) fn take_back_for(&mut self, dir: &StateDir, e: &Line<'_>) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        let p = &e.payload;
        if let Some(slug) = p.slug.as_deref() {
            self.take_back_slug(dir, slug)?;
        }
        if e.kind == events::DEPLOYMENT_STARTED {
            if let (Some(branch), Some(sha)) = (p.branch.as_deref(), p.sha.as_deref()) {
                self.take_back_push(dir, &store, branch, sha)?;
            }
        }
        Ok(())
    }

    /// Make sure the pushes of `branch@sha` are in memory: every candidate in memory has
    /// its pushes there too. Looked up once per process even when a push of it is in
    /// memory: the archive may hold the same push to another remote.
    fn take_back_push(&mut self, dir: &StateDir, store: &Archive, branch: &str, sha: &str) -> Result<()> {
        let key = archive::push_key(branch, sha);
        if self.looked_up.insert(key.clone()) {
            for r in store.lookup(dir, &key)? {
                if let Some(push) = r.push {
                    self.pushes.insert(push);
                }
            }
        }
        Ok(())
    }

    /// Make sure the whole history of `slug` is in memory (a no-op without an archive).
    pub(crate) fn take_back_slug(&mut self, dir: &StateDir, slug: &str) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        if self.known.is_none() {
            self.known = Some(self.slugs_in_memory());
        }
        if self.known.as_ref().is_some_and(|k| k.contains(slug)) {
            return Ok(());
        }
        let records: Vec<SlugRecord> =
            store.lookup(dir, &archive::slug_key(slug))?.into_iter().filter_map(|r| r.slug).collect();
        let candidates: BTreeSet<(String, String)> =
            records.iter().flat_map(|r| r.started.iter().map(|s| (s.branch.clone(), s.sha.clone()))).collect();
        if let Some(newest) = records.iter().map(|r| r.offset).max().filter(|o| *o > self.offset) {
            self.covered.insert(slug.to_string(), newest);
        }
        self.merge(records);
        for (branch, sha) in candidates {
            self.take_back_push(dir, &store, &branch, &sha)?;
        }
        if let Some(k) = self.known.as_mut() {
            k.insert(slug.to_string());
        }
        Ok(())
    }

    /// [`take_back_slug`](Self::take_back_slug) for each of `slugs` — the slugs of open
    /// queue items, which a run must see until their items are settled, even when a
    /// reader archived the slug in between.
    pub(crate) fn take_back_slugs<'a>(
        &mut self,
        dir: &StateDir,
        slugs: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        for slug in slugs {
            self.take_back_slug(dir, slug)?;
        }
        Ok(())
    }

    /// `(branch, sha)` of every candidate in memory: the pushes that stay with them.
    pub(super) fn named_candidates(&self) -> HashSet<(&str, &str)> {
        self.started.iter().map(|s| (s.branch.as_str(), s.sha.as_str())).collect()
    }

    /// Fold archived slug records back in, for slugs that have nothing in memory: of the
    /// records of one slug, the latest fold (largest offset) holds everything.
    fn merge(&mut self, records: impl IntoIterator<Item = SlugRecord>) {
        let mut latest: BTreeMap<String, SlugRecord> = BTreeMap::new();
        for r in records {
            match latest.get(&r.slug) {
                Some(cur) if cur.offset > r.offset => {}
                _ => {
                    latest.insert(r.slug.clone(), r);
                }
            }
        }
        for r in latest.into_values() {
            self.started.extend(r.started);
            if let Some(round) = r.approval {
                let a = self.approvals.entry(r.slug.clone()).or_insert(0);
                *a = (*a).max(round);
            }
            for (sha, commit) in r.completed {
                self.completed.insert(completed_key(&r.slug, &sha), commit);
            }
            if let Some(n) = r.notification {
                self.notifications.insert(r.slug.clone(), n);
            }
            self.dropped.extend(r.dropped);
        }
    }

    /// Fold the whole archive back in, for the views of all history (`--all`). The result
    /// is for reading: saving it would archive everything again.
    pub(crate) fn with_archive(&mut self) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        let mut pushes = Vec::new();
        let mut slugs = Vec::new();
        for r in store.scan()? {
            if let Some(s) = r.slug {
                slugs.push(s);
            }
            if let Some(p) = r.push {
                pushes.push(p);
            }
        }
        // Slugs already in memory hold everything their archived records do.
        let known = self.slugs_in_memory();
        self.merge(slugs.into_iter().filter(|s| !known.contains(&s.slug)));
        self.pushes.extend(pushes);
        self.known = None;
        Ok(())
    }

    /// Move resolved history out of memory into archive records: every slug whose winner
    /// is completed and has no unseen failure, and every push no remaining candidate names.
    pub(super) fn split(&mut self) -> Vec<Record> {
        let resolved: HashSet<String> = self
            .winners()
            .into_iter()
            .filter(|(slug, w)| {
                self.is_completed(slug, &w.sha)
                    && self.notifications.get(*slug).is_none_or(|n| n.state == NotificationState::Resolved || n.seen)
            })
            .map(|(slug, _)| slug.to_string())
            .collect();
        let mut recs: HashMap<String, SlugRecord> = resolved
            .iter()
            .map(|s| (s.clone(), SlugRecord { slug: s.clone(), offset: self.offset, ..SlugRecord::default() }))
            .collect();
        let (gone, keep): (Vec<Started>, Vec<Started>) =
            std::mem::take(&mut self.started).into_iter().partition(|s| resolved.contains(&s.slug));
        self.started = keep;
        for st in gone {
            if let Some(r) = recs.get_mut(&st.slug) {
                r.started.push(st);
            }
        }
        for (slug, r) in recs.iter_mut() {
            r.approval = self.approvals.remove(slug);
            r.notification = self.notifications.remove(slug);
        }
        self.completed.retain(|k, commit| match k.split_once(':') {
            Some((slug, sha)) if resolved.contains(slug) => {
                if let Some(r) = recs.get_mut(slug) {
                    r.completed.insert(sha.to_string(), commit.clone());
                }
                false
            }
            _ => true,
        });
        self.dropped.retain(|k| match recs.get_mut(key_slug(k)) {
            Some(r) => {
                r.dropped.push(k.clone());
                false
            }
            None => true,
        });
        // Into vectors, in order: the kept ones become a set again in one bulk pass.
        let pushes = std::mem::take(&mut self.pushes);
        let named = self.named_candidates();
        let (kept, moved): (Vec<_>, Vec<_>) =
            pushes.into_iter().partition(|(_, b, s)| named.contains(&(b.as_str(), s.as_str())));
        drop(named);
        self.pushes = kept.into_iter().collect();
        if let Some(k) = self.known.as_mut() {
            k.retain(|s| !resolved.contains(s));
        }
        self.looked_up.clear();
        recs.into_values()
            .map(Record::of_slug)
            .chain(moved.into_iter().map(|(r, b, s)| Record::of_push(r, b, s)))
            .collect()
    }

    /// Undo [`split`](Self::split) when its records could not be written.
    pub(super) fn unsplit(&mut self, records: Vec<Record>) {
        let mut slugs = Vec::new();
        for r in records {
            if let Some(s) = r.slug {
                slugs.push(s);
            }
            if let Some(p) = r.push {
                self.pushes.insert(p);
            }
        }
        if let Some(k) = self.known.as_mut() {
            k.extend(slugs.iter().map(|s| s.slug.clone()));
        }
        self.merge(slugs);
    }
}
