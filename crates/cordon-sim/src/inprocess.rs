//! The simulator's engine as a `DefenderApi`, without HTTP: worker tests run it under
//! paused tokio time, so rate limits and polling are exercised over virtual hours.

use std::collections::HashMap;

use super::engine::{Fault, RouteKind, SimError, Simulator};
use cordon_core::api::models::{ErrorBody, Machine, MachineAction, ODataPage};
use cordon_core::api::{
    ActionFilter, ApiError, DefenderApi, IsolationType, MachineRecord, PageRequest,
};

const CLIENT: &str = "in-process";
const REQUESTOR: &str = "cordon-demo-app";

pub struct InProcess(pub Simulator);

fn to_api(e: SimError) -> ApiError {
    if e.status == 429 {
        return ApiError::Throttled {
            retry_after: e.retry_after.map(std::time::Duration::from_secs),
        };
    }
    ApiError::Service {
        status: e.status,
        body: ErrorBody {
            code: e.code.to_string(),
            message: e.message,
            target: None,
        },
    }
}

fn fault_error(f: Fault) -> Option<ApiError> {
    match f {
        Fault::None => None,
        Fault::ServerError => Some(ApiError::Service {
            status: 500,
            body: ErrorBody {
                code: "InternalServerError".into(),
                message: "Simulated server error".into(),
                target: None,
            },
        }),
        Fault::Garbage => Some(ApiError::Decode("simulated truncated body".into())),
        Fault::Drop => Some(ApiError::Network("simulated connection reset".into())),
    }
}

/// `inproc://sim/api/…?$filter=..&$top=..&$skip=..` → the query pairs.
fn query_of(link: &str) -> HashMap<String, String> {
    let q = link.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn link(path: &str, filter: Option<&str>, top: &str, skip: usize) -> String {
    let mut s = format!("inproc://sim{path}?");
    if let Some(f) = filter {
        s.push_str("$filter=");
        s.extend(url::form_urlencoded::byte_serialize(f.as_bytes()));
        s.push('&');
    }
    s.push_str(&format!("$top={top}&$skip={skip}"));
    s
}

impl InProcess {
    fn enter(&self, kind: RouteKind) -> Result<(), ApiError> {
        self.0.admit(CLIENT, kind).map_err(to_api)?;
        match fault_error(self.0.roll_fault()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write(
        &self,
        kind: RouteKind,
        act: impl FnOnce() -> Result<MachineAction, SimError>,
    ) -> Result<MachineAction, ApiError> {
        self.0.admit(CLIENT, kind).map_err(to_api)?;
        let fault = self.0.roll_fault();
        if let Some(e) = fault_error(fault) {
            if self.0.coin() {
                let _ = act();
            }
            return Err(e);
        }
        act().map_err(to_api)
    }
}

impl DefenderApi for InProcess {
    async fn machines_page<T: MachineRecord>(
        &self,
        page: PageRequest,
    ) -> Result<ODataPage<T>, ApiError> {
        self.enter(RouteKind::ListMachines)?;
        let (filter, top, skip) = match page {
            PageRequest::First { filter, top } => (filter, top.to_string(), "0".to_string()),
            PageRequest::Next(l) => {
                let q = query_of(&l);
                (
                    q.get("$filter").cloned(),
                    q.get("$top").cloned().unwrap_or_else(|| "10000".into()),
                    q.get("$skip").cloned().unwrap_or_default(),
                )
            }
        };
        let (value, next) = self
            .0
            .list_machines(filter.as_deref(), Some(&top), Some(&skip))
            .map_err(to_api)?;
        Ok(ODataPage {
            context: None,
            value: value.into_iter().map(T::from).collect(),
            next_link: next.map(|s| link("/api/machines", filter.as_deref(), &top, s)),
        })
    }

    async fn get_machine(&self, id_or_name: &str) -> Result<Machine, ApiError> {
        self.enter(RouteKind::GetMachine)?;
        self.0.get_machine(id_or_name).map_err(to_api)
    }

    async fn actions_page(
        &self,
        filter: &ActionFilter,
        next: Option<String>,
    ) -> Result<ODataPage<MachineAction>, ApiError> {
        self.enter(RouteKind::ListActions)?;
        let (f, top, skip) = match next {
            None => (filter.to_odata(), "10000".to_string(), "0".to_string()),
            Some(l) => {
                let q = query_of(&l);
                (
                    q.get("$filter").cloned(),
                    q.get("$top").cloned().unwrap_or_else(|| "10000".into()),
                    q.get("$skip").cloned().unwrap_or_default(),
                )
            }
        };
        let (value, next) = self
            .0
            .list_actions(f.as_deref(), Some(&top), Some(&skip))
            .map_err(to_api)?;
        Ok(ODataPage {
            context: None,
            value,
            next_link: next.map(|s| link("/api/machineactions", f.as_deref(), &top, s)),
        })
    }

    async fn get_action(&self, action_id: &str) -> Result<MachineAction, ApiError> {
        self.enter(RouteKind::GetAction)?;
        self.0.get_action(action_id).map_err(to_api)
    }

    async fn isolate(
        &self,
        machine_id: &str,
        comment: &str,
        isolation_type: IsolationType,
    ) -> Result<MachineAction, ApiError> {
        self.write(RouteKind::Isolate, || {
            self.0
                .isolation(machine_id, comment, Some(isolation_type), REQUESTOR)
        })
    }

    async fn unisolate(&self, machine_id: &str, comment: &str) -> Result<MachineAction, ApiError> {
        self.write(RouteKind::Unisolate, || {
            self.0.isolation(machine_id, comment, None, REQUESTOR)
        })
    }

    async fn cancel_action(
        &self,
        action_id: &str,
        comment: &str,
    ) -> Result<MachineAction, ApiError> {
        self.write(RouteKind::Cancel, || {
            self.0.cancel(action_id, comment, REQUESTOR)
        })
    }
}
